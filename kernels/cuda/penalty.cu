// CUDA L1/L2 penalty: the value by one block (fixed-order reduction, accumulated into *value on the
// device); the gradient one thread per element. Math: kernels/penalty.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/penalty.h"

namespace normlab::cuda {
namespace {
__global__ void pen_fwd(float* value, const float* w, int64_t n, float l1, float l2) {
  float a = 0.f, q = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    a += fabsf(w[i]);
    q += w[i] * w[i];
  }
  a = block_sum(a);
  q = block_sum(q);
  if (threadIdx.x == 0) *value += l1 * a + 0.5f * l2 * q;
}
__global__ void pen_bwd(float* dw, const float* w, int64_t n, float l1, float l2) {
  NL_GRID_LOOP(i, n) {
    dw[i] += penalty_grad(w[i], l1, l2);
  }
}
}  // namespace

template <>
void penalty_forward<float>(float* value, const float* w, int64_t n, float l1, float l2) {
  NL_LAUNCH(pen_fwd, 1, kReduceThreads, 0, value, w, n, l1, l2);
}
template <>
void penalty_backward<float>(float* dw, const float* w, int64_t n, float l1, float l2) {
  NL_LAUNCH(pen_bwd, blocks_for(n), kThreads, 0, dw, w, n, l1, l2);
}

}  // namespace normlab::cuda
