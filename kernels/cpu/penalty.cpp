// CPU L1/L2 penalty. Math: kernels/penalty.h.
#include "kernels/penalty.h"

#include <cmath>

namespace normlab::cpu {

template <typename T>
void penalty_forward(T* value, const T* w, int64_t n, T l1, T l2) {
  double a = 0, q = 0;
  for (int64_t i = 0; i < n; ++i) {
    a += std::abs(w[i]);
    q += static_cast<double>(w[i]) * w[i];
  }
  *value += static_cast<T>(l1 * a + 0.5 * l2 * q);
}

template <typename T>
void penalty_forward_segments(T* value, const T* w, const PenaltySegments& seg, T l1, T l2) {
  for (int p = 0; p < seg.count; ++p) penalty_forward(value + p, w + seg.begin[p], seg.begin[p + 1] - seg.begin[p], l1, l2);
}

template <typename T>
void penalty_backward(T* dw, const T* w, int64_t n, T l1, T l2) {
  for (int64_t i = 0; i < n; ++i) {
    dw[i] += penalty_grad(w[i], l1, l2);
  }
}

template void penalty_forward<float>(float*, const float*, int64_t, float, float);
template void penalty_forward<double>(double*, const double*, int64_t, double, double);
template void penalty_backward<float>(float*, const float*, int64_t, float, float);
template void penalty_backward<double>(double*, const double*, int64_t, double, double);
template void penalty_forward_segments<float>(float*, const float*, const PenaltySegments&, float, float);
template void penalty_forward_segments<double>(double*, const double*, const PenaltySegments&, double, double);

}  // namespace normlab::cpu
