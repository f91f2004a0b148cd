// The CUDA emulator (NORMLAB_CUDA_EMULATE=ON): the subset of the CUDA runtime and device language
// that normlab uses, implemented on the CPU, so that the unchanged sources in kernels/cuda/*.cu
// compile as C++ and run here — for correctness tests in CI, and for stepping through a kernel in
// gdb. Timings taken under it mean nothing and are never GPU figures.
//
// Host side (core/emu/runtime.cpp): device memory is host memory (posix_memalign, exact size, so
// AddressSanitizer sees every overrun; new allocations are filled with 0xFF bytes, a NaN in float
// and double), copies are memcpy checked against the live allocations, events read a clock, and
// every call returns the cudaError_t that CUDA would. The last error is per host thread and kernel
// faults are sticky, as on a GPU. Work
// runs in the order it is issued, whatever its stream; streams exist for stream capture (CUDA
// Graphs, core/emu/streams.cpp): while a stream captures, its launches, memsets and copies become
// the graph's nodes instead of running, each depending on its stream's previous node and on what
// the stream waited for through events (so a capture may fork to other streams and join back), and
// a graph launch runs them in capture order or in another order those dependencies allow
// (set_graph_order), as a GPU may run a graph's branches in any such order. What would break a capture
// on a GPU breaks it here: work on the legacy stream (nullptr), a synchronizing call, cudaMalloc
// outside the relaxed mode; the capture is then invalidated and cudaStreamEndCapture fails.
//
// Device side (core/emu/scheduler.cpp): a launch runs the grid's blocks one after another; the
// threads of a block are cooperatively scheduled fibers (Boost.Context), so __syncthreads() is a real
// barrier and the __shfl_*_sync functions exchange values among the 32 lanes of a warp. A thread
// runs until it finishes or reaches a barrier or shuffle; when every thread of the block has done
// so, the scheduler releases what may proceed and checks what the hardware leaves undefined:
// barrier divergence, a shuffle that a lane of its mask never reaches, a read from a lane outside
// the mask. Each error names the kernel, the block, the thread and the source line. Threads that
// never wait run as plain calls on one stack. Shared memory (NL_SHARED / NL_DYNAMIC_SHARED in
// kernels/cuda/common.cuh) is per block and filled with 0xFF at the block's start. The order in
// which threads and blocks run between two barriers can be reversed (set_order), which is how the
// tests look for races: the same kernel must give the same bits in both orders.
#pragma once
#include <math.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <source_location>
#include <string>
#include <tuple>
#include <utility>
#include <vector>
#include <type_traits>

// ---- the language ---------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Static shared memory is declared with NL_SHARED (kernels/cuda/common.cuh), which the emulator can
// give each block fresh and poisoned; a bare __shared__ stops the emulation build here.
#define __shared__ static_assert(false, "declare shared memory with NL_SHARED / NL_DYNAMIC_SHARED");

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;
// The 16-byte vector type of the kernels' vectorised loads (kernels/cuda/vec4.cuh), as aligned as CUDA's.
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// The built-in variables of the running thread, set by the scheduler before it runs a thread. Plain
// globals (launches are serialized): an extern thread_local would go through a TLS wrapper, which
// GCC 12's UBSan null check mis-handles.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace normlab::emu {

enum class Shfl { idx, up, down, bxor };
void syncthreads(std::source_location where);
void syncwarp(unsigned mask, std::source_location where);
// Deposits `bytes` of `in` for the lanes in `mask`, waits for them, and reads lane src's value
// (src from kind/arg/width as CUDA defines it) into `out`.
void shuffle(void* out, const void* in, std::size_t bytes, unsigned mask, Shfl kind, int arg, int width,
             std::source_location where);
// The block's copy of the static shared array declared at `key` (one per declaration), and the
// block's dynamic shared memory (the launch's shmem bytes).
void* block_shared(const void* key, std::size_t bytes, const char* name);
void* dynamic_shared();
// A fault the running thread commits where a GPU would stop the kernel (a misaligned vector access):
// recorded with the kernel, block, thread and `where`; the launch then fails, stickily, as on a GPU.
void device_fault(const std::string& what, std::source_location where);

// Runs body(arg) for every thread of the grid; returns the launch's error. Launches are synchronous
// and one at a time (from any number of host threads).
int run_kernel(const char* name, const void* fn, dim3 grid, dim3 block, std::size_t shmem, void (*body)(void*),
               void* arg);
// Work issued to `stream` (core/emu/streams.cpp): runs `work` now, or, while the stream captures,
// stores it as a node of the capture's graph, depending on the stream's previous node (and on what
// the stream waited for through events), and returns cudaSuccess. Work on the legacy stream
// (nullptr) while a capture is active invalidates it (cudaErrorStreamCaptureImplicit), as on a GPU.
int issue(cudaStream_t stream, std::function<int()> work);

// Thread and block order between barriers: forward (0, 1, 2, ...) or reversed. Tests run kernels in
// both and require the same bits.
enum class Order { forward, reverse };
void set_order(Order o);
// Launches run so far, and how often each kernel ran (tests print what they executed).
int64_t launches();
std::vector<std::pair<std::string, int64_t>> kernel_counts();

template <typename... P, typename... A>
int launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shmem, cudaStream_t stream,
           A... args) {
  // The arguments are converted once, when the launch is issued, as a real launch copies them: a
  // captured launch replays these values.
  return issue(stream, [name, kernel, grid, block, shmem, a = std::tuple<P...>(static_cast<P>(args)...)] {
    auto call = [&] { std::apply(kernel, a); };
    return run_kernel(
        name, reinterpret_cast<const void*>(kernel), grid, block, shmem,
        [](void* c) { (*static_cast<decltype(call)*>(c))(); }, &call);
  });
}

}  // namespace normlab::emu

inline void __syncthreads(std::source_location w = std::source_location::current()) {
  normlab::emu::syncthreads(w);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location w = std::source_location::current()) {
  normlab::emu::syncwarp(mask, w);
}

#define NL_EMU_SHFL(fn, kind, argty)                                                                              \
  template <typename T>                                                                                            \
  T fn(unsigned mask, T var, argty arg, int width = 32, std::source_location w = std::source_location::current()) { \
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, #fn ": 1 to 8 bytes");                       \
    T out;                                                                                                         \
    normlab::emu::shuffle(&out, &var, sizeof(T), mask, normlab::emu::Shfl::kind, static_cast<int>(arg), width, w); \
    return out;                                                                                                    \
  }
NL_EMU_SHFL(__shfl_sync, idx, int)
NL_EMU_SHFL(__shfl_up_sync, up, unsigned)
NL_EMU_SHFL(__shfl_down_sync, down, unsigned)
NL_EMU_SHFL(__shfl_xor_sync, bxor, int)
#undef NL_EMU_SHFL

// ---- device functions the kernels use -----------------------------------------------------------
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
template <typename T> T __ldg(const T* p) { return *p; }
template <typename T> T __ldcg(const T* p) { return *p; }  // a load that skips L1 on a GPU
// Blocks and launches run one at a time here, so a fence has nothing to order; a full fence all the same.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Atomics (blocks run one at a time, but the functions are atomic all the same).
int atomicAdd(int* p, int v);
unsigned atomicAdd(unsigned* p, unsigned v);
unsigned long long atomicAdd(unsigned long long* p, unsigned long long v);
float atomicAdd(float* p, float v);
double atomicAdd(double* p, double v);
int atomicMax(int* p, int v);
int atomicMin(int* p, int v);
int atomicExch(int* p, int v);
float atomicExch(float* p, float v);
int atomicCAS(int* p, int compare, int v);
unsigned atomicCAS(unsigned* p, unsigned compare, unsigned v);
unsigned long long atomicCAS(unsigned long long* p, unsigned long long compare, unsigned long long v);

// ---- the runtime API ------------------------------------------------------------------------------
enum cudaError : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureUnjoined = 904,
  cudaErrorStreamCaptureIsolation = 905,
  cudaErrorStreamCaptureImplicit = 906,
};
using cudaError_t = cudaError;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr {
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrMemoryClockRate = 36,
  cudaDevAttrGlobalMemoryBusWidth = 37,
};
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2
};
struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  std::size_t sharedMemPerBlockOptin;
  int warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3], major, minor, multiProcessorCount;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaMalloc(void** p, std::size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
// Clears the errors, sticky ones too (CUDA's reset also frees every allocation; the emulator keeps them).
cudaError_t cudaDeviceReset();
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
struct CUgraphNode_st;
using cudaGraphNode_t = CUgraphNode_st*;
// The emulator's nodes have no handles: nodes must be null (only the count is given).
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, std::size_t* count);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaEventCreate(cudaEvent_t* e);
constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
// The stream's later work waits for the work before the event's last record. In a capture, the
// event's record carries the capture's dependencies: a stream that waits on it joins the capture.
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaFuncSetAttributeRaw(const void* fn, cudaFuncAttribute attr, int value);
template <typename... P>
cudaError_t cudaFuncSetAttribute(void (*fn)(P...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttributeRaw(reinterpret_cast<const void*>(fn), attr, value);
}
// As many blocks as an H100 SM holds by threads alone (2048 per SM); the emulator counts no registers.
template <typename... P>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, void (*)(P...), int block_size, std::size_t) {
  *blocks = block_size > 0 && block_size <= 1024 ? 2048 / block_size : 0;
  return block_size > 0 && block_size <= 1024 ? cudaSuccess : cudaErrorInvalidValue;
}

namespace normlab::emu {
// Shared by the two halves of the emulator: records a launch or kernel error (a kernel fault is
// sticky, as on a GPU: every later call returns it), with the detail that cudaGetErrorString gives.
void set_error(cudaError_t e, const char* detail, bool sticky);
// The limits the launch checks use, as on an H100 (sm_90).
constexpr std::size_t kStaticSharedLimit = 48 * 1024, kDynamicSharedDefault = 48 * 1024,
                      kSharedOptinLimit = 227 * 1024;
std::size_t max_dynamic_shared(const void* fn);
// For the runtime's synchronous calls (core/emu/runtime.cpp): whether any stream captures; whether
// a wait on s would wait for captured work (s captures, or s is the legacy stream during a capture);
// breaking every capture under way with error e; cudaMalloc's check (only the relaxed mode allows it).
bool capture_active();
bool waits_on_capture(cudaStream_t s);
cudaError_t break_captures(cudaError_t e, const std::string& why);
cudaError_t malloc_breaks_capture();
// The order in which a graph launch runs the nodes: the order they were captured in (default), or
// another order the graph's dependencies allow — the origin stream's nodes first, each branch node
// as late as the nodes that depend on it allow, or branch nodes first, each as early as its own
// dependencies allow. A GPU may run branches in any such order; tests replay a graph in all three
// and require the same bits, so a missing fork or join between streams shows.
enum class GraphOrder { capture, origin_first, branches_first };
void set_graph_order(GraphOrder o);
// Nodes captured so far on streams that joined a capture (its branches), over all captures.
int64_t branch_nodes_captured();
}  // namespace normlab::emu
