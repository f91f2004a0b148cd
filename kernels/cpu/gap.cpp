// CPU global average pool. Math: kernels/gap.h.
#include "kernels/gap.h"

namespace normlab::cpu {

template <typename T>
void gap_forward(T* y, const T* x, int P, int HW) {
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; ++p) {
    double s = 0;
    for (int i = 0; i < HW; ++i) s += x[static_cast<int64_t>(p) * HW + i];
    y[p] = static_cast<T>(s / HW);
  }
}

template <typename T>
void gap_backward(T* dx, const T* dy, int P, int HW) {
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; ++p) {
    const T g = dy[p] / static_cast<T>(HW);
    for (int i = 0; i < HW; ++i) dx[static_cast<int64_t>(p) * HW + i] = g;
  }
}

template void gap_forward<float>(float*, const float*, int, int);
template void gap_forward<double>(double*, const double*, int, int);
template void gap_backward<float>(float*, const float*, int, int);
template void gap_backward<double>(double*, const double*, int, int);

}  // namespace normlab::cpu
