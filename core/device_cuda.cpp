// core/device.h for CUDA builds: the CUDA runtime calls behind device tensors, and the caching
// allocator (free lists keyed by rounded size; blocks are reused, never cudaFree'd while the
// program runs).
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda_check.h"
#include "core/device.h"

namespace normlab {
namespace {

// Small blocks round up to 512 bytes, large ones to 1 MiB: the sizes one training step asks for
// repeat exactly, so the rounding only bounds fragmentation across different batch sizes.
// Under the emulator (NORMLAB_CUDA_EMULATE) sizes are exact, so that AddressSanitizer catches a
// kernel reading one element past a tensor's end, and every block handed out is refilled with NaN
// (0xff bytes), so that a kernel reading what nobody wrote gives NaN rather than old values.
std::size_t round_size(std::size_t bytes) {
#ifdef NORMLAB_CUDA_EMULATE
  return std::max<std::size_t>(bytes, 1);
#endif
  const std::size_t q = bytes < (std::size_t{1} << 20) ? 512 : (std::size_t{1} << 20);
  return (std::max<std::size_t>(bytes, 1) + q - 1) / q * q;
}

class CachingAllocator {
 public:
  void* alloc(std::size_t bytes) {
    const std::size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    void* p = nullptr;
    auto& list = free_[size];
    if (!list.empty()) {
      p = list.back();
      list.pop_back();
    } else {
      cudaError_t e = cudaMalloc(&p, size);
      if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
        (void)cudaGetLastError();
        release_cached();
        e = cudaMalloc(&p, size);
      }
      CUDA_CHECK(e);
      ++stats_.mallocs;
      stats_.reserved += size;
    }
    size_of_[p] = size;
    stats_.in_use += size;
#ifdef NORMLAB_CUDA_EMULATE
    CUDA_CHECK(cudaMemset(p, 0xff, size));
#endif
    return p;
  }

  void release(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = size_of_.find(p);
    if (it == size_of_.end()) return;  // not ours (cannot happen through Tensor)
    stats_.in_use -= it->second;
    free_[it->second].push_back(p);
    size_of_.erase(it);
  }

  CudaMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_cached() {  // called with mu_ held
    CUDA_CHECK(cudaDeviceSynchronize());
    for (auto& [size, list] : free_) {
      for (void* p : list) {
        CUDA_CHECK(cudaFree(p));
        stats_.reserved -= size;
      }
      list.clear();
    }
  }

  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::unordered_map<void*, std::size_t> size_of_;
  CudaMemoryStats stats_;
};

// Never destroyed: tensors in static storage may be released after main() returns.
CachingAllocator& allocator() {
  static auto* a = new CachingAllocator;
  return *a;
}

}  // namespace

bool cuda_available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found";
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

std::string cuda_device_name() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  char b[320];
  std::snprintf(b, sizeof b, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return b;
}

void* cuda_alloc(std::size_t bytes) { return allocator().alloc(bytes); }
void cuda_release(void* p) { allocator().release(p); }

void cuda_copy(void* dst, const void* src, std::size_t bytes, bool dst_device, bool src_device) {
  if (bytes == 0) return;
  const cudaMemcpyKind kind = dst_device ? (src_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                         : (src_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  if (kind == cudaMemcpyDeviceToDevice)
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, nullptr));  // stays in stream order, no host wait
  else
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void cuda_memset_zero(void* p, std::size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, nullptr));
}

CudaMemoryStats cuda_memory_stats() { return allocator().stats(); }

}  // namespace normlab
