// CUDA bilinear rotation (augmentation), one thread per output pixel. Math: kernels/rotate.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/rotate.h"
#include "kernels/step.h"

namespace normlab::cuda {
namespace {
__global__ void rot(float* y, const float* x, const float* angles, const int32_t* step, int64_t batch, int N, int H, int W,
                    float fill) {
  const float* angle = angles + step_rows(step, batch);
  const double ci = (H - 1) / 2.0, cj = (W - 1) / 2.0;
  NL_GRID_LOOP(e, int64_t(N) * H * W) {
    const int n = int(e / (H * W)), q = int(e % (H * W)), i = q / W, j = q % W;
    const float* xn = x + int64_t(n) * H * W;
    const double c = cos(double(angle[n])), s = sin(double(angle[n]));
    const double u = c * (j - cj) + s * (i - ci) + cj, v = -s * (j - cj) + c * (i - ci) + ci;
    const double fu = floor(u), fv = floor(v);
    const int q0 = int(fu), r0 = int(fv);
    const double a = u - fu, b = v - fv;
    auto at = [&](int r, int cc) -> double {
      return (r < 0 || r >= H || cc < 0 || cc >= W) ? double(fill) : double(xn[r * W + cc]);
    };
    y[e] = float((1 - b) * ((1 - a) * at(r0, q0) + a * at(r0, q0 + 1)) +
                 b * ((1 - a) * at(r0 + 1, q0) + a * at(r0 + 1, q0 + 1)));
  }
}
}  // namespace

template <>
void rotate_forward<float>(float* y, const float* x, const float* angle, const int32_t* step, int64_t batch, int N, int H,
                           int W, float fill) {
  NL_LAUNCH(rot, blocks_for(int64_t(N) * H * W), kThreads, 0, y, x, angle, step, batch, N, H, W, fill);
}

}  // namespace normlab::cuda
