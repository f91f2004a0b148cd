// Device memory: the one place that talks to the CUDA runtime on behalf of Tensor.
//
// A CUDA build (NORMLAB_CUDA=ON) implements these in core/device_cuda.cpp; a CPU-only build in
// core/device_none.cpp, where cuda_available() says why not and everything else throws.
//
// Allocation goes through a caching allocator: a freed block is kept in a free list keyed by its
// rounded size and handed out again, so a training step, which allocates the same sizes every time,
// calls cudaMalloc only during its first step and never calls cudaFree. cuda_memory_stats() reports
// how often cudaMalloc was really called, so tests and the app can show it.
//
// All copies and fills run on the calling thread's stream (cuda_stream(), core/cuda_check.h; one
// per host thread), in order with its kernels. Copies to the host wait for the work before them
// (that is the only way to read a result); copies from the host return once the copy is done, so
// the caller may reuse the host buffer. Free blocks are cached per stream: a block is handed out
// again only to the stream that freed it, so threads training side by side (mnist_norm --jobs)
// never reuse each other's memory while the other's work may still read it.
//
// CUDA Graphs (CudaGraph below): capture() runs a function with the stream in capture mode, so
// that the kernels, fills and device-to-device copies it issues are recorded, not run; replay()
// runs them all with one launch. A graph replays the addresses it captured, so while it lives the
// allocator keeps every block the capture allocated or released out of the free lists: a tensor
// that dies during or after the capture does not hand its memory to another. Inside a capture
// nothing may wait for the device or copy from the host (the capture fails with the CUDA error).
//
// Branches (CudaBranch below): each host thread has a main stream and a side stream. Work that the
// next ops do not need — a layer's weight gradient, read only by the optimizer after the backward
// pass — may run on the side stream beside the main stream's work: a CudaBranch makes the side
// stream wait for everything issued so far on the main stream, and while it lives cuda_stream() is
// the side stream (kernels, fills, copies and allocations go there). cuda_join_branch() makes the
// main stream wait for everything issued on the side stream so far. Captured, the two streams are
// one graph with parallel branches (the fork and join are dependencies, not nodes). A tensor that a
// branch reads must live until the join: its memory goes back to the main stream's free list when it
// dies, and the main stream may reuse it at once (Tape::backward joins before it releases the
// tensors its backward closures hold). Off unless set_cuda_branches(true) (mnist_norm
// --cuda-branches); the bits are the same either way, since the same kernels run on the same data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace normlab {

// True when this build has the CUDA backend and a CUDA device can be used. Otherwise false, with a
// one-line reason in *why (no CUDA in this build, no device, driver too old, ...).
bool cuda_available(std::string* why = nullptr);
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"; throws where cuda_available() is false.
std::string cuda_device_name();
// The device's SM count and L2 size in bytes, read once per process (the emulator reports 1 SM and no
// L2). Kernels size persistent grids and cache-sized schedules by them, never their results.
int cuda_sm_count();
std::size_t cuda_l2_bytes();

void* cuda_alloc(std::size_t bytes);  // from the cache, else cudaMalloc; never returns null
void cuda_release(void* p);           // back to the cache (not cudaFree)
void cuda_copy(void* dst, const void* src, std::size_t bytes, bool dst_device, bool src_device);
void cuda_memset_zero(void* p, std::size_t bytes);

struct CudaMemoryStats {
  int64_t mallocs = 0;       // cudaMalloc calls so far
  int64_t allocations = 0;   // cuda_alloc calls so far (served from the cache or by cudaMalloc)
  std::size_t reserved = 0;  // bytes held from cudaMalloc (in use + cached)
  std::size_t in_use = 0;    // bytes handed out and not yet released
};
CudaMemoryStats cuda_memory_stats();

// Whether layers should put their side work on branches (process-wide; false by default).
void set_cuda_branches(bool on);
bool cuda_branches();
// While it lives, with on = true, this thread's CUDA work runs on its side stream, which first
// waits for the main stream's work so far. on = false: does nothing (the CPU, or branches off).
// Not nested; not around a CudaGraph::capture.
class CudaBranch {
 public:
  explicit CudaBranch(bool on);
  ~CudaBranch();
  CudaBranch(const CudaBranch&) = delete;
  CudaBranch& operator=(const CudaBranch&) = delete;

 private:
  bool on_;
};
// The main stream waits for the side stream's work so far; nothing when no branch ran since the last join.
void cuda_join_branch();

class CudaGraph {
 public:
  CudaGraph() = default;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph();
  // Records what fn() issues on the stream as this graph (replacing any previous one); nothing of
  // it runs. Throws the CUDA error when fn() did something a capture cannot hold.
  void capture(const std::function<void()>& fn);
  void replay();                            // runs the graph once, asynchronously
  bool ready() const { return exec_ != nullptr; }
  std::size_t nodes() const { return nodes_; }  // kernels, fills and copies in the graph
  void reset();                             // destroys the graph and gives its memory back

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  std::size_t nodes_ = 0;
  int pool_ = 0;  // the allocator's id of the memory this graph holds (0: none)
};

}  // namespace normlab
