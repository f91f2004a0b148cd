// CUDA 2x2 max pool: one thread per output (forward); one thread per input element (backward, so
// every dx is assigned exactly once without atomics). Math: kernels/maxpool.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/maxpool.h"

namespace normlab::cuda {
namespace {
__global__ void pool_fwd(float* y, int32_t* argmax, const float* x, int P, int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  NL_GRID_LOOP(o, int64_t(P) * Ho * Wo) {
    const int64_t p = o / (Ho * Wo);
    const int q = int(o % (Ho * Wo)), i = q / Wo, j = q % Wo;
    const float* xp = x + p * H * W;
    int best = (2 * i) * W + 2 * j;
    const int cand[3] = {best + 1, best + W, best + W + 1};
    for (int c : cand)
      if (xp[c] > xp[best]) best = c;
    y[o] = xp[best];
    argmax[o] = best;
  }
}
__global__ void pool_bwd(float* dx, const float* dy, const int32_t* argmax, int P, int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  NL_GRID_LOOP(e, int64_t(P) * H * W) {
    const int64_t p = e / (H * W);
    const int q = int(e % (H * W)), r = q / W, c = q % W, i = r / 2, j = c / 2;
    float v = 0.f;
    if (i < Ho && j < Wo) {
      const int64_t o = p * Ho * Wo + i * Wo + j;
      if (argmax[o] == q) v = dy[o];
    }
    dx[e] = v;
  }
}
}  // namespace

template <>
void maxpool2x2_forward<float>(float* y, int32_t* argmax, const float* x, int P, int H, int W) {
  NL_LAUNCH(pool_fwd, blocks_for(int64_t(P) * (H / 2) * (W / 2)), kThreads, 0, y, argmax, x, P, H, W);
}
template <>
void maxpool2x2_backward<float>(float* dx, const float* dy, const int32_t* argmax, int P, int H, int W) {
  NL_LAUNCH(pool_bwd, blocks_for(int64_t(P) * H * W), kThreads, 0, dx, dy, argmax, P, H, W);
}

}  // namespace normlab::cuda
