// core/device.h for builds without the CUDA backend (NORMLAB_CUDA=OFF): no device memory exists.
#include "core/device.h"
#include "core/error.h"

namespace normlab {
namespace {
[[noreturn]] void no_cuda() {
  throw Error("this build has no CUDA backend: configure with -DNORMLAB_CUDA=ON on a machine with the CUDA toolkit");
}
}  // namespace

bool cuda_available(std::string* why) {
  if (why)
    *why = "this build has no CUDA backend (configure with -DNORMLAB_CUDA=ON on a machine with the CUDA toolkit)";
  return false;
}
std::string cuda_device_name() { no_cuda(); }
int cuda_sm_count() { no_cuda(); }
std::size_t cuda_l2_bytes() { no_cuda(); }
void* cuda_alloc(std::size_t) { no_cuda(); }
void cuda_release(void*) {}
void cuda_copy(void*, const void*, std::size_t, bool, bool) { no_cuda(); }
void cuda_memset_zero(void*, std::size_t) { no_cuda(); }
CudaMemoryStats cuda_memory_stats() { return {}; }
void set_cuda_branches(bool on) {
  if (on) no_cuda();
}
bool cuda_branches() { return false; }
CudaBranch::CudaBranch(bool on) : on_(on) {
  if (on_) no_cuda();
}
CudaBranch::~CudaBranch() = default;
void cuda_join_branch() {}
CudaGraph::~CudaGraph() = default;
void CudaGraph::capture(const std::function<void()>&) { no_cuda(); }
void CudaGraph::replay() { no_cuda(); }
void CudaGraph::reset() {}

}  // namespace normlab
