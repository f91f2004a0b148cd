// CPU 2x2 max pool. Math: kernels/maxpool.h.
#include "kernels/maxpool.h"

#include <cstring>

namespace normlab::cpu {

template <typename T>
void maxpool2x2_forward(T* y, int32_t* argmax, const T* x, int P, int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; ++p) {
    const T* xp = x + static_cast<int64_t>(p) * H * W;
    T* yp = y + static_cast<int64_t>(p) * Ho * Wo;
    int32_t* ap = argmax + static_cast<int64_t>(p) * Ho * Wo;
    for (int i = 0; i < Ho; ++i)
      for (int j = 0; j < Wo; ++j) {
        int best = (2 * i) * W + 2 * j;
        const int cand[3] = {best + 1, best + W, best + W + 1};
        for (int c : cand)
          if (xp[c] > xp[best]) best = c;
        yp[i * Wo + j] = xp[best];
        ap[i * Wo + j] = best;
      }
  }
}

template <typename T>
void maxpool2x2_backward(T* dx, const T* dy, const int32_t* argmax, int P, int H, int W) {
  const int Q = (H / 2) * (W / 2);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; ++p) {
    T* dxp = dx + static_cast<int64_t>(p) * H * W;
    std::memset(dxp, 0, sizeof(T) * static_cast<std::size_t>(H) * W);
    for (int q = 0; q < Q; ++q) dxp[argmax[static_cast<int64_t>(p) * Q + q]] = dy[static_cast<int64_t>(p) * Q + q];
  }
}

template void maxpool2x2_forward<float>(float*, int32_t*, const float*, int, int, int);
template void maxpool2x2_forward<double>(double*, int32_t*, const double*, int, int, int);
template void maxpool2x2_backward<float>(float*, const float*, const int32_t*, int, int, int);
template void maxpool2x2_backward<double>(double*, const double*, const int32_t*, int, int, int);

}  // namespace normlab::cpu
