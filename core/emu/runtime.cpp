// The host half of the CUDA emulator (see core/emu/cuda_emu.h): device memory, copies, errors
// and the device's description (streams, events and graphs: core/emu/streams.cpp). Every
// allocation is tracked, so a copy that leaves a live allocation fails with cudaErrorInvalidValue,
// as CUDA's would (or as compute-sanitizer reports).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/emu/cuda_emu.h"

namespace normlab::emu {
namespace {

std::mutex mu;                            // guards live and max_dynamic
std::map<const char*, std::size_t> live;  // device allocations: start -> bytes
std::unordered_map<const void*, int> max_dynamic;
// The last error is the calling thread's, as CUDA's is; a kernel fault is the whole context's.
thread_local cudaError_t last = cudaSuccess;
thread_local std::string detail_of_last;
std::atomic<cudaError_t> sticky{cudaSuccess};
std::mutex sticky_mu;  // guards detail_of_sticky and the first fault's recording
std::string detail_of_sticky;

// The allocation holding [p, p + bytes), or false (called with mu held).
bool inside(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto it = live.upper_bound(c);
  if (it == live.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

cudaError_t fail(cudaError_t e, const std::string& what) {
  set_error(e, what.c_str(), false);
  return e;
}

std::string hex(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "%p", p);
  return b;
}

// A copy's device side must lie inside one live allocation.
cudaError_t check_range(const char* call, const void* p, std::size_t bytes, const char* side) {
  if (inside(p, bytes)) return cudaSuccess;
  return fail(cudaErrorInvalidValue, std::string(call) + ": the " + side + " range [" + hex(p) + ", +" +
                                         std::to_string(bytes) + " bytes) is not inside one device allocation");
}

}  // namespace

void set_error(cudaError_t e, const char* detail, bool is_sticky) {
  // (called with or without mu held by the two halves; the scheduler never holds it)
  last = e;
  detail_of_last = detail;
  if (is_sticky) {
    std::lock_guard<std::mutex> lock(sticky_mu);
    if (sticky == cudaSuccess) {
      detail_of_sticky = detail;
      sticky = e;
    }
  }
  std::fprintf(stderr, "cuda emulator: %s\n", detail);
}

std::size_t max_dynamic_shared(const void* fn) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = max_dynamic.find(fn);
  return it == max_dynamic.end() ? kDynamicSharedDefault : static_cast<std::size_t>(it->second);
}

}  // namespace normlab::emu

using namespace normlab::emu;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice, "cudaSetDevice: the emulator has device 0 only");
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: the emulator has device 0 only");
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "normlab CUDA emulator on the CPU (H100 limits; timings are not GPU figures)");
  p->totalGlobalMem = static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  p->sharedMemPerBlock = kStaticSharedLimit;
  p->sharedMemPerBlockOptin = kSharedOptinLimit;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(kSharedOptinLimit); return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 1; return cudaSuccess;
    default: *value = 0; return cudaSuccess;  // clocks, bus width, L2: the emulator has none to report
  }
}

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  *p = nullptr;
  if (const cudaError_t e = malloc_breaks_capture(); e != cudaSuccess) return e;
  if (bytes == 0) bytes = 1;
  void* q = nullptr;
  // Exactly `bytes`: under AddressSanitizer the first byte past the end is already poisoned.
  if (posix_memalign(&q, 256, bytes) != 0)
    return fail(cudaErrorMemoryAllocation, "cudaMalloc: out of host memory for " + std::to_string(bytes) + " bytes");
  std::memset(q, 0xff, bytes);  // new device memory reads as NaN (float, double) or -1 (int)
  std::lock_guard<std::mutex> lock(mu);
  live[static_cast<const char*>(q)] = bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(mu);
  auto it = live.find(static_cast<const char*>(p));
  if (it == live.end()) return fail(cudaErrorInvalidValue, "cudaFree: " + hex(p) + " is not a device allocation");
  live.erase(it);
  std::free(p);
  return cudaSuccess;
}

namespace {
cudaError_t copy_now(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (sticky != cudaSuccess) return sticky;
  if (bytes == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(mu);
    const bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) return fail(cudaErrorInvalidValue, "cudaMemcpy: the emulator needs an explicit kind");
    if (dd && check_range("cudaMemcpy", dst, bytes, "destination") != cudaSuccess) return cudaErrorInvalidValue;
    if (sd && check_range("cudaMemcpy", src, bytes, "source") != cudaSuccess) return cudaErrorInvalidValue;
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t set_now(void* p, int value, std::size_t bytes) {
  if (sticky != cudaSuccess) return sticky;
  if (bytes == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (check_range("cudaMemset", p, bytes, "destination") != cudaSuccess) return cudaErrorInvalidValue;
  }
  std::memset(p, value, bytes);
  return cudaSuccess;
}
}  // namespace

// The synchronous calls run on the legacy stream and wait: never during a capture.
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (capture_active()) return break_captures(cudaErrorStreamCaptureImplicit, "cudaMemcpy while a stream captures");
  return copy_now(dst, src, bytes, kind);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  // (host memory the graph would read later)
  if (kind != cudaMemcpyDeviceToDevice && stream && waits_on_capture(stream))
    return break_captures(cudaErrorStreamCaptureUnsupported,
                          "cudaMemcpyAsync: the emulator captures device-to-device copies only");
  return static_cast<cudaError_t>(issue(stream, [=] { return copy_now(dst, src, bytes, kind); }));
}
cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  if (capture_active()) return break_captures(cudaErrorStreamCaptureImplicit, "cudaMemset while a stream captures");
  return set_now(p, value, bytes);
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream) {
  return static_cast<cudaError_t>(issue(stream, [=] { return set_now(p, value, bytes); }));
}

cudaError_t cudaDeviceSynchronize() {  // kernels ran inside their launch
  if (capture_active())
    return break_captures(cudaErrorStreamCaptureUnsupported, "cudaDeviceSynchronize while a stream captures");
  return sticky;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (waits_on_capture(s))
    return break_captures(cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize of a capturing stream");
  return sticky;
}

cudaError_t cudaDeviceReset() {
  std::lock_guard<std::mutex> lock(sticky_mu);
  last = sticky = cudaSuccess;
  detail_of_last.clear();
  detail_of_sticky.clear();
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t f = sticky;
  const cudaError_t e = f != cudaSuccess ? f : last;
  last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  const cudaError_t f = sticky;
  return f != cudaSuccess ? f : last;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorStreamCaptureIsolation: return "cudaErrorStreamCaptureIsolation";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
  }
  return "cudaErrorUnknown";
}

// CUDA's own wording, followed by what the emulator saw (the kernel, block, thread and line).
const char* cudaGetErrorString(cudaError_t e) {
  static thread_local std::string s;
  const char* base = "unknown error";
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: base = "invalid argument"; break;
    case cudaErrorMemoryAllocation: base = "out of memory"; break;
    case cudaErrorInvalidConfiguration: base = "invalid configuration argument"; break;
    case cudaErrorInvalidDevice: base = "invalid device ordinal"; break;
    case cudaErrorNoDevice: base = "no CUDA-capable device is detected"; break;
    case cudaErrorInvalidResourceHandle: base = "invalid resource handle"; break;
    case cudaErrorLaunchFailure: base = "unspecified launch failure"; break;
    case cudaErrorStreamCaptureUnsupported: base = "operation not permitted when stream is capturing"; break;
    case cudaErrorStreamCaptureInvalidated: base = "operation failed due to a previous error during capture"; break;
    case cudaErrorStreamCaptureUnjoined: base = "capture sequence contains a fork that was not joined to the primary stream"; break;
    case cudaErrorStreamCaptureIsolation: base = "dependency created on uncaptured work in another stream"; break;
    case cudaErrorStreamCaptureImplicit: base = "operation would make the legacy stream depend on a capturing blocking stream"; break;
  }
  const std::string& d = e == sticky ? detail_of_sticky : detail_of_last;
  s = d.empty() ? std::string(base) : std::string(base) + " [" + d + "]";
  return s.c_str();
}

cudaError_t cudaFuncSetAttributeRaw(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<std::size_t>(value) > kSharedOptinLimit)
    return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: dynamic shared memory above the device's 227 KiB");
  std::lock_guard<std::mutex> lock(mu);
  max_dynamic[fn] = value;
  return cudaSuccess;
}

// ---- atomics ---------------------------------------------------------------------------------
namespace {
template <typename T, typename F>
T rmw(T* p, F f) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (!a.compare_exchange_weak(old, f(old))) {
  }
  return old;
}
}  // namespace
int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }
unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
float atomicAdd(float* p, float v) { return rmw(p, [v](float o) { return o + v; }); }
double atomicAdd(double* p, double v) { return rmw(p, [v](double o) { return o + v; }); }
int atomicMax(int* p, int v) { return rmw(p, [v](int o) { return o > v ? o : v; }); }
int atomicMin(int* p, int v) { return rmw(p, [v](int o) { return o < v ? o : v; }); }
int atomicExch(int* p, int v) { return std::atomic_ref<int>(*p).exchange(v); }
float atomicExch(float* p, float v) { return std::atomic_ref<float>(*p).exchange(v); }
int atomicCAS(int* p, int c, int v) {
  std::atomic_ref<int>(*p).compare_exchange_strong(c, v);
  return c;
}
unsigned atomicCAS(unsigned* p, unsigned c, unsigned v) {
  std::atomic_ref<unsigned>(*p).compare_exchange_strong(c, v);
  return c;
}
unsigned long long atomicCAS(unsigned long long* p, unsigned long long c, unsigned long long v) {
  std::atomic_ref<unsigned long long>(*p).compare_exchange_strong(c, v);
  return c;
}
