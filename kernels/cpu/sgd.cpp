// CPU SGD step. Math: kernels/sgd.h.
#include "kernels/penalty.h"
#include "kernels/sgd.h"
#include "kernels/step.h"

namespace normlab::cpu {

template <typename T>
void sgd_step(T* w, T* v, const T* dw, int64_t n, int64_t n_decay, T l1, T l2, const T* lr_table, const int32_t* s,
              T momentum, bool nesterov) {
  const T lr = lr_table[step_of(s)];
  for (int64_t i = 0; i < n; ++i) {
    T g = dw[i];
    if (i < n_decay) g += penalty_grad(w[i], l1, l2);
    v[i] = momentum * v[i] + g;
    const T step = nesterov ? g + momentum * v[i] : v[i];
    w[i] -= lr * step;
  }
}

template void sgd_step<float>(float*, float*, const float*, int64_t, int64_t, float, float, const float*,
                              const int32_t*, float, bool);
template void sgd_step<double>(double*, double*, const double*, int64_t, int64_t, double, double, const double*,
                               const int32_t*, double, bool);

}  // namespace normlab::cpu
