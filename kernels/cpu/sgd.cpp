// CPU SGD step. Math: kernels/sgd.h.
#include "kernels/sgd.h"

namespace normlab::cpu {

template <typename T>
void sgd_step(T* w, T* v, const T* dw, int64_t n, T lr, T momentum, bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    v[i] = momentum * v[i] + dw[i];
    const T step = nesterov ? dw[i] + momentum * v[i] : v[i];
    w[i] -= lr * step;
  }
}

template void sgd_step<float>(float*, float*, const float*, int64_t, float, float, bool);
template void sgd_step<double>(double*, double*, const double*, int64_t, double, double, bool);

}  // namespace normlab::cpu
