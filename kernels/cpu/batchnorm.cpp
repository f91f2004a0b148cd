// CPU batch norm: one OpenMP iteration per channel; sums in double. Math: kernels/batchnorm.h.
#include "kernels/batchnorm.h"

#include <cmath>
#include <cstdint>

namespace normlab::cpu {

template <typename T>
void batchnorm_forward_train(T* y, T* mean, T* rstd, T* running_mean, T* running_var, const T* x,
                             const T* gamma, const T* beta, int N, int C, int HW, T eps, T momentum) {
  const double M = static_cast<double>(N) * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; ++c) {
    double s = 0;
    for (int n = 0; n < N; ++n) {
      const T* xp = x + (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) s += xp[i];
    }
    const double mu = s / M;
    double ss = 0;  // two-pass variance: no cancellation
    for (int n = 0; n < N; ++n) {
      const T* xp = x + (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) ss += (xp[i] - mu) * (xp[i] - mu);
    }
    const double var = ss / M;
    const double rs = 1.0 / std::sqrt(var + static_cast<double>(eps));
    mean[c] = static_cast<T>(mu);
    rstd[c] = static_cast<T>(rs);
    const T a = static_cast<T>(gamma[c] * rs), b = static_cast<T>(beta[c] - gamma[c] * mu * rs);
    for (int n = 0; n < N; ++n) {
      const int64_t off = (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) y[off + i] = a * x[off + i] + b;
    }
    const double unbiased = M > 1 ? var * M / (M - 1) : var;
    running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mu);
    running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
  }
}

template <typename T>
void batchnorm_forward_eval(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int N, int C, int HW, T eps) {
#pragma omp parallel for schedule(static) collapse(2)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const T rs = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
      const T a = gamma[c] * rs, b = beta[c] - gamma[c] * running_mean[c] * rs;
      const int64_t off = (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) y[off + i] = a * x[off + i] + b;
    }
}

template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW) {
  const double M = static_cast<double>(N) * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; ++c) {
    const double mu = mean[c], rs = rstd[c];
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {
      const int64_t off = (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        sdy += dy[off + i];
        sdyx += dy[off + i] * (x[off + i] - mu) * rs;
      }
    }
    dbeta[c] += static_cast<T>(sdy);
    dgamma[c] += static_cast<T>(sdyx);
    const double k = gamma[c] * rs / M;
    const double mdy = sdy, mdyx = sdyx;
    for (int n = 0; n < N; ++n) {
      const int64_t off = (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        const double xh = (x[off + i] - mu) * rs;
        dx[off + i] = static_cast<T>(k * (M * dy[off + i] - mdy - xh * mdyx));
      }
    }
  }
}

#define NL_INSTANTIATE(T)                                                                       \
  template void batchnorm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int, \
                                           int, int, T, T);                                     \
  template void batchnorm_forward_eval<T>(T*, const T*, const T*, const T*, const T*, const T*,  \
                                          int, int, int, T);                                    \
  template void batchnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,        \
                                      const T*, int, int, int);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
