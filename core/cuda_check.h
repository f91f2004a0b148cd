// CUDA error handling, for the CUDA backend only (include from .cu files and CUDA tests).
//
//   CUDA_CHECK(expr)    evaluates a CUDA runtime call; on failure throws normlab::CudaError whose
//                       message holds the error string, the expression, the file and the line.
//   check_launch(name)  after every kernel launch (kernels/cuda/common.cuh's launch() calls it):
//                       checks the launch, and when the environment sets NORMLAB_CUDA_SYNC=1 (the
//                       debug switch) synchronizes the device so that an asynchronous fault is
//                       reported at the launch that caused it (not while the stream captures a
//                       CUDA Graph, where nothing runs and a wait would break the capture).
//   cuda_stream()       the calling thread's stream, on which its kernels, copies and fills run
//                       (core/device_cuda.cpp).
// In an emulation build (NORMLAB_CUDA_EMULATE) the runtime API comes from the emulator.
#pragma once
#ifdef NORMLAB_CUDA_EMULATE
#include "core/emu/cuda_emu.h"
#else
#include <cuda_runtime_api.h>
#endif

#include <cstdlib>

#include "core/error.h"

namespace normlab {

struct CudaError : Error {
  using Error::Error;
};

inline bool cuda_sync_debug() {
  static const bool on = [] {
    const char* v = std::getenv("NORMLAB_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  return on;
}

}  // namespace normlab

#define CUDA_CHECK(expr)                                                                                \
  do {                                                                                                  \
    const cudaError_t nl_err_ = (expr);                                                                 \
    if (nl_err_ != cudaSuccess)                                                                         \
      throw ::normlab::CudaError(::normlab::detail::concat("CUDA error '", cudaGetErrorString(nl_err_), \
                                                           "' in ", #expr, " at ", __FILE__, ":", __LINE__)); \
  } while (0)

namespace normlab {
// The stream of the calling thread's work, created on its first use: an explicit stream, not the
// legacy one, so that it can be captured into a CUDA Graph (CudaGraph, core/device.h), and one per
// host thread, so that threads training side by side run side by side on the GPU. It is a blocking
// stream: a synchronous call on the legacy stream (cudaMemcpy, cudaMemset) still waits for it.
// Inside a CudaBranch (core/device.h) it is the thread's side stream instead.
cudaStream_t cuda_stream();

inline bool cuda_capturing() {
  cudaStreamCaptureStatus s = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(cuda_stream(), &s) == cudaSuccess && s != cudaStreamCaptureStatusNone;
}

inline void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && cuda_sync_debug() && !cuda_capturing()) e = cudaDeviceSynchronize();
  if (e != cudaSuccess)
    throw CudaError(detail::concat("CUDA error '", cudaGetErrorString(e), "' launching kernel ", kernel));
}
}  // namespace normlab
