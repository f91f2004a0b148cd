// CPU batch norm: per-row sums in parallel, then per-channel statistics (kernels/cpu/norm_rows.h).
// Math: kernels/batchnorm.h.
#include "kernels/batchnorm.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/norm_rows.h"

namespace normlab::cpu {

template <typename T>
void batchnorm_forward_train(T* y, T* mean, T* rstd, T* running_mean, T* running_var, const T* x,
                             const T* gamma, const T* beta, int N, int C, int HW, T eps, T momentum) {
  const rows::Groups g = rows::batch_groups(N, C, HW);
  const double M = g.size();
  std::vector<double> mu, var;
  rows::group_stats(mu, var, x, g);
  std::vector<T> a(static_cast<std::size_t>(N) * C), b(a.size());
  for (int c = 0; c < C; ++c) {
    const double rs = 1.0 / std::sqrt(var[c] + static_cast<double>(eps));
    mean[c] = static_cast<T>(mu[c]);
    rstd[c] = static_cast<T>(rs);
    const double unbiased = M > 1 ? var[c] * M / (M - 1) : var[c];
    running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mu[c]);
    running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
    for (int n = 0; n < N; ++n) {  // y = gamma*(x - mu)*rs + beta = a*x + b
      a[n * C + c] = static_cast<T>(gamma[c] * rs);
      b[n * C + c] = static_cast<T>(beta[c] - gamma[c] * mu[c] * rs);
    }
  }
  rows::apply_affine(y, x, a, b, static_cast<int64_t>(N) * C, HW);
}

template <typename T>
void batchnorm_forward_eval(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int N, int C, int HW, T eps) {
  std::vector<T> a(static_cast<std::size_t>(N) * C), b(a.size());
  for (int c = 0; c < C; ++c) {
    const T rs = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
    for (int n = 0; n < N; ++n) {
      a[n * C + c] = gamma[c] * rs;
      b[n * C + c] = beta[c] - gamma[c] * running_mean[c] * rs;
    }
  }
  rows::apply_affine(y, x, a, b, static_cast<int64_t>(N) * C, HW);
}

template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW) {
  const rows::Groups g = rows::batch_groups(N, C, HW);
  const double M = g.size();
  const auto s = rows::row_dy_sums(dy, x, mean, g);
  // dx = k*(M*dy - sum dy - xhat*sum dy*xhat), k = gamma*rstd/M, written per channel as
  // dx = A*dy + B*(x - mean) + C0.
  std::vector<T> A(static_cast<std::size_t>(C)), B(A.size()), C0(A.size());
  for (int c = 0; c < C; ++c) {
    double sdy = 0, sdyxm = 0;
    for (int n = 0; n < N; ++n) {
      sdy += s[n * C + c].dy;
      sdyxm += s[n * C + c].dyxm;
    }
    const double rs = rstd[c], sdyx = sdyxm * rs;  // sum dy * xhat
    dbeta[c] += static_cast<T>(sdy);
    dgamma[c] += static_cast<T>(sdyx);
    const double k = gamma[c] * rs / M;
    A[c] = static_cast<T>(k * M);
    B[c] = static_cast<T>(-k * sdyx * rs);
    C0[c] = static_cast<T>(-k * sdy);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < static_cast<int64_t>(N) * C; ++r) {
    const int c = static_cast<int>(r % C);
    rows::affine2(dx + r * HW, dy + r * HW, x + r * HW, HW, A[c], B[c], mean[c], C0[c]);
  }
}

template <typename T>
void batchnorm_act_forward_train(T* y, T* mean, T* rstd, T* running_mean, T* running_var, const T* x,
                                 const T* gamma, const T* beta, int N, int C, int HW, T eps, T momentum,
                                 Activation<T> act) {
  batchnorm_forward_train(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum);
  activation_forward_inplace(y, static_cast<int64_t>(N) * C * HW, act);
}

template <typename T>
void batchnorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                            const T* y, const T* x, const T* gamma, const T* /*beta: z is not recomputed*/, int N,
                            int C, int HW, Activation<T> act) {
  const T* dz = activation_backward(dy, y, static_cast<int64_t>(N) * C * HW, act);
  batchnorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW);
}

#define NL_INSTANTIATE(T)                                                                       \
  template void batchnorm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int, \
                                           int, int, T, T);                                     \
  template void batchnorm_forward_eval<T>(T*, const T*, const T*, const T*, const T*, const T*,  \
                                          int, int, int, T);                                    \
  template void batchnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,        \
                                      const T*, int, int, int);                               \
  template void batchnorm_act_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*,  \
                                               int, int, int, T, T, Activation<T>);              \
  template void batchnorm_act_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,      \
                                          const T*, const T*, const T*, int, int, int, Activation<T>);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
