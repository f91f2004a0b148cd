// CUDA L1/L2 penalty: the value by one block (fixed-order reduction, accumulated into *value on the
// device; one block per segment for penalty_forward_segments); the gradient one thread per element. Math: kernels/penalty.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/penalty.h"

namespace normlab::cuda {
namespace {
// One block's sum of the penalty of w[0, n) into *value.
__device__ void pen_block(float* value, const float* w, int64_t n, float l1, float l2) {
  float a = 0.f, q = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    a += fabsf(w[i]);
    q += w[i] * w[i];
  }
  a = block_sum(a);
  q = block_sum(q);
  if (threadIdx.x == 0) *value += l1 * a + 0.5f * l2 * q;
}
__global__ void pen_fwd(float* value, const float* w, int64_t n, float l1, float l2) { pen_block(value, w, n, l1, l2); }
// Block p: segment p, the same sums as pen_fwd over that segment alone.
__global__ void pen_fwd_seg(float* value, const float* w, PenaltySegments seg, float l1, float l2) {
  const int p = int(blockIdx.x);
  pen_block(value + p, w + seg.begin[p], seg.begin[p + 1] - seg.begin[p], l1, l2);
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
void penalty_forward_segments<float>(float* value, const float* w, const PenaltySegments& seg, float l1, float l2) {
  if (seg.count > 0) {
    NL_LAUNCH(pen_fwd_seg, seg.count, kReduceThreads, 0, value, w, seg, l1, l2);
  }
}
template <>
void penalty_backward<float>(float* dw, const float* w, int64_t n, float l1, float l2) {
  NL_LAUNCH(pen_bwd, blocks_for(n), kThreads, 0, dw, w, n, l1, l2);
}

}  // namespace normlab::cuda
