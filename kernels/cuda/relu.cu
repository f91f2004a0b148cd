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
  NL_LAUNCH(relu_fwd, blocks_for(n), kThreads, 0, y, x, n);
}
template <>
void relu_backward<float>(float* dx, const float* dy, const float* y, int64_t n) {
  NL_LAUNCH(relu_bwd, blocks_for(n), kThreads, 0, dx, dy, y, n);
}

}  // namespace normlab::cuda
