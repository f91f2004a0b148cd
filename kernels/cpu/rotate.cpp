// CPU bilinear rotation (augmentation). Math: kernels/rotate.h.
#include "kernels/rotate.h"
#include "kernels/step.h"

#include <cmath>
#include <cstdint>

namespace normlab::cpu {

template <typename T>
void rotate_forward(T* y, const T* x, const T* angles, const int32_t* step, int64_t batch, int N, int H, int W, T fill) {
  const T* angle = angles + step_rows(step, batch);
  const double ci = (H - 1) / 2.0, cj = (W - 1) / 2.0;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const T* xn = x + static_cast<int64_t>(n) * H * W;
    T* yn = y + static_cast<int64_t>(n) * H * W;
    const double c = std::cos(static_cast<double>(angle[n])), s = std::sin(static_cast<double>(angle[n]));
    auto at = [&](int r, int q) -> double {
      return (r < 0 || r >= H || q < 0 || q >= W) ? static_cast<double>(fill) : static_cast<double>(xn[r * W + q]);
    };
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const double u = c * (j - cj) + s * (i - ci) + cj;
        const double v = -s * (j - cj) + c * (i - ci) + ci;
        const double fu = std::floor(u), fv = std::floor(v);
        const int q0 = static_cast<int>(fu), r0 = static_cast<int>(fv);
        const double a = u - fu, b = v - fv;
        const double val = (1 - b) * ((1 - a) * at(r0, q0) + a * at(r0, q0 + 1)) +
                           b * ((1 - a) * at(r0 + 1, q0) + a * at(r0 + 1, q0 + 1));
        yn[i * W + j] = static_cast<T>(val);
      }
  }
}

template void rotate_forward<float>(float*, const float*, const float*, const int32_t*, int64_t, int, int, int, float);
template void rotate_forward<double>(double*, const double*, const double*, const int32_t*, int64_t, int, int, int,
                                     double);

}  // namespace normlab::cpu
