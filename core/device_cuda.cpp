// core/device.h for CUDA builds: the CUDA runtime calls behind device tensors, the caching
// allocator (free lists keyed by rounded size; blocks are reused, never cudaFree'd while the
// program runs), the backend's stream and CUDA Graphs.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
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

// Blocks are cached per stream (each host thread has its own, cuda_stream()): a block freed by one
// stream's work is handed out again only to that stream, whose order then protects it from the
// work still queued behind it. While a graph captures, every block it allocates, and every block
// its thread releases during the capture (the graph may have used it before), joins the graph's
// pool: a block of a pool never goes back to a free list while its graph lives, even when its
// tensor dies. When the graph is reset, the pool's released blocks go to the free lists and the
// others stay with their tensors.
thread_local int t_capturing = 0;  // the pool of the graph this thread captures (0: none)

class CachingAllocator {
 public:
  int begin_capture() {
    std::lock_guard<std::mutex> lock(mu_);
    t_capturing = ++last_pool_;
    pools_[t_capturing];
    return t_capturing;
  }
  void end_capture() { t_capturing = 0; }
  void drop_pool(int pool) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(pool);
    if (it == pools_.end()) return;
    for (const auto& [p, b] : it->second) {
      pool_of_.erase(p);
      if (b.released) free_[b.stream][b.size].push_back(p);
    }
    pools_.erase(it);
  }

  void* alloc(std::size_t bytes) {
    const std::size_t size = round_size(bytes);
    cudaStream_t stream = cuda_stream();
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    void* p = nullptr;
    auto& list = free_[stream][size];
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
    live_[p] = {size, stream, false};
    stats_.in_use += size;
    if (t_capturing) {
      pools_[t_capturing][p] = {size, stream, false};
      pool_of_[p] = t_capturing;
    }
#ifdef NORMLAB_CUDA_EMULATE
    // (on the stream: inside a capture the graph refills the block with NaN at every replay)
    CUDA_CHECK(cudaMemsetAsync(p, 0xff, size, stream));
#endif
    return p;
  }

  void release(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours (cannot happen through Tensor)
    const Block b = it->second;
    stats_.in_use -= b.size;
    live_.erase(it);
    if (auto g = pool_of_.find(p); g != pool_of_.end()) {
      pools_[g->second][p].released = true;  // the graph keeps it
    } else if (t_capturing) {
      pools_[t_capturing][p] = {b.size, b.stream, true};
      pool_of_[p] = t_capturing;
    } else {
      free_[b.stream][b.size].push_back(p);
    }
  }

  CudaMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_cached() {  // called with mu_ held
    CUDA_CHECK(cudaDeviceSynchronize());
    for (auto& [stream, lists] : free_)
      for (auto& [size, list] : lists) {
        for (void* p : list) {
          CUDA_CHECK(cudaFree(p));
          stats_.reserved -= size;
        }
        list.clear();
      }
  }

  struct Block {
    std::size_t size;
    cudaStream_t stream;  // whose free list it returns to
    bool released;        // (in a pool) its tensor is gone: only the graph uses it
  };
  std::mutex mu_;
  std::unordered_map<cudaStream_t, std::unordered_map<std::size_t, std::vector<void*>>> free_;
  std::unordered_map<void*, Block> live_;  // blocks in use
  std::unordered_map<int, std::unordered_map<void*, Block>> pools_;
  std::unordered_map<void*, int> pool_of_;
  int last_pool_ = 0;
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

namespace {
int device_attribute(cudaDeviceAttr a) {
  int dev = 0, v = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&v, a, dev));
  return v;
}
}  // namespace
int cuda_sm_count() {
  static const int n = device_attribute(cudaDevAttrMultiProcessorCount);
  return n;
}
std::size_t cuda_l2_bytes() {
  static const std::size_t n = static_cast<std::size_t>(device_attribute(cudaDevAttrL2CacheSize));
  return n;
}

void* cuda_alloc(std::size_t bytes) { return allocator().alloc(bytes); }
void cuda_release(void* p) { allocator().release(p); }

// Two per host thread, never destroyed (their blocks stay cached under them): the main stream, and
// the side stream of branches (CudaBranch). The training of a study with --jobs runs each worker
// thread's runs on the worker's streams, side by side on the GPU.
namespace {
cudaStream_t new_stream() {
  cudaStream_t c = nullptr;
  CUDA_CHECK(cudaStreamCreate(&c));
  return c;
}
cudaEvent_t new_event() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}
cudaStream_t main_stream() {
  thread_local cudaStream_t s = new_stream();
  return s;
}
struct Branches {
  cudaStream_t side = new_stream();
  cudaEvent_t fork = new_event(), join = new_event();
  // The events end with their thread (a wait still queued on one is not affected); the stream stays,
  // as the main stream does: its cached blocks are keyed by it. Errors are ignored: at the process's
  // exit the CUDA runtime may be gone before the main thread's thread_local objects.
  Branches() = default;
  Branches(const Branches&) = delete;
  Branches& operator=(const Branches&) = delete;
  ~Branches() {
    (void)cudaEventDestroy(fork);
    (void)cudaEventDestroy(join);
  }
};
Branches& branches() {
  thread_local Branches b;
  return b;
}
// (plain flags, so that cuda_stream() and a join with nothing to join touch no CUDA object: a CPU
// training calls cuda_join_branch() at every backward pass)
thread_local bool t_in_branch = false;  // a CudaBranch lives: cuda_stream() is the side stream
thread_local bool t_pending = false;    // the side stream has work the main stream has not joined
std::atomic<bool> g_branches{false};
}  // namespace

cudaStream_t cuda_stream() { return t_in_branch ? branches().side : main_stream(); }

void set_cuda_branches(bool on) { g_branches = on; }
bool cuda_branches() { return g_branches; }

CudaBranch::CudaBranch(bool on) : on_(on) {
  if (!on_) return;
  NL_CHECK(!t_in_branch, "CudaBranch: branches do not nest");
  Branches& b = branches();
  CUDA_CHECK(cudaEventRecord(b.fork, main_stream()));
  CUDA_CHECK(cudaStreamWaitEvent(b.side, b.fork, 0));
  t_in_branch = t_pending = true;
}
CudaBranch::~CudaBranch() {
  if (on_) t_in_branch = false;
}
void cuda_join_branch() {
  NL_CHECK(!t_in_branch, "cuda_join_branch inside a CudaBranch");
  if (!t_pending) return;
  Branches& b = branches();
  CUDA_CHECK(cudaEventRecord(b.join, b.side));
  CUDA_CHECK(cudaStreamWaitEvent(main_stream(), b.join, 0));
  t_pending = false;
}

void cuda_copy(void* dst, const void* src, std::size_t bytes, bool dst_device, bool src_device) {
  if (bytes == 0) return;
  const cudaMemcpyKind kind = dst_device ? (src_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                         : (src_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  if (kind == cudaMemcpyHostToHost) {
    std::memcpy(dst, src, bytes);
    return;
  }
  // In the stream's order, after the work before it. A copy with a host side waits until it is
  // done: to the host, to read the result; from the host, so that the caller may reuse its buffer.
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cuda_stream()));
  if (kind != cudaMemcpyDeviceToDevice) CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}

void cuda_memset_zero(void* p, std::size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream()));
}

CudaMemoryStats cuda_memory_stats() { return allocator().stats(); }

CudaGraph::~CudaGraph() {
  try {
    reset();
  } catch (const CudaError& e) {  // a sticky fault of the device: nothing left to release
    std::fprintf(stderr, "normlab: destroying a CUDA graph: %s\n", e.what());
  }
}

void CudaGraph::reset() {
  if (exec_) CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)));
  if (graph_) CUDA_CHECK(cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)));
  exec_ = graph_ = nullptr;
  nodes_ = 0;
  if (pool_) {
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));  // a replay may still use the pool's blocks
    allocator().drop_pool(pool_);
  }
  pool_ = 0;
}

void CudaGraph::capture(const std::function<void()>& fn) {
  NL_CHECK(!t_in_branch, "CudaGraph::capture inside a CudaBranch");
  reset();
  cuda_join_branch();  // side work from before the capture stays outside it, ordered before its replays
  cudaStream_t s = cuda_stream();
  pool_ = allocator().begin_capture();
  // Relaxed: the allocator may call cudaMalloc inside the capture (its blocks then stay with the graph).
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  cudaGraph_t g = nullptr;
  try {
    fn();
  } catch (...) {
    (void)cudaStreamEndCapture(s, &g);
    (void)cudaGetLastError();
    if (g) (void)cudaGraphDestroy(g);
    allocator().end_capture();
    reset();
    throw;
  }
  const cudaError_t e = cudaStreamEndCapture(s, &g);
  allocator().end_capture();
  if (e != cudaSuccess) reset();
  CUDA_CHECK(e);
  graph_ = g;
  CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &nodes_));
  cudaGraphExec_t x = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&x, g, 0));
  exec_ = x;
}

void CudaGraph::replay() {
  NL_CHECK(exec_, "CudaGraph::replay before capture");
  CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda_stream()));
  check_launch("a CUDA graph");
}

}  // namespace normlab
