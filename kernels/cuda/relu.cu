// CUDA ReLU, one thread per element (grid-stride). Math: kernels/relu.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/relu.h"

namespace normlab::cuda {
namespace {
__global__ void relu_fwd(float* y, const float* x, int64_t n) {
  NL_GRID_LOOP(i, n)
    y[i] = x[i] > 0.f ? x[i] : 0.f;
}
__global__ void relu_bwd(float* dx, const float* dy, const float* y, int64_t n) {
  NL_GRID_LOOP(i, n)
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}
}  // namespace

template <>
void relu_forward<float>(float* y, const float* x, int64_t n) {
  relu_fwd<<<blocks_for(n), kThreads>>>(y, x, n);
  CUDA_LAUNCH_CHECK();
}
template <>
void relu_backward<float>(float* dx, const float* dy, const float* y, int64_t n) {
  relu_bwd<<<blocks_for(n), kThreads>>>(dx, dy, y, n);
  CUDA_LAUNCH_CHECK();
}

}  // namespace normlab::cuda
