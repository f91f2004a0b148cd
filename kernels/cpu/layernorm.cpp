// CPU layer norm. With a per-channel affine it is group norm with one group (kernels/groupnorm.h
// says so; the same code runs). With a per-element affine: statistics per sample through the
// shared row sums (kernels/cpu/norm_rows.h), the affine and its gradients per element.
// Math: kernels/layernorm.h.
#include "kernels/layernorm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/norm_rows.h"
#include "kernels/groupnorm.h"

namespace normlab::cpu {

template <typename T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, bool per_element, T eps) {
  if (!per_element) return groupnorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, 1, eps);
  const int64_t M = static_cast<int64_t>(C) * HW;
  std::vector<double> mu, var;
  rows::group_stats(mu, var, x, rows::sample_groups(N, C, HW, 1));
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const double rs = 1.0 / std::sqrt(var[n] + static_cast<double>(eps));
    mean[n] = static_cast<T>(mu[n]);
    rstd[n] = static_cast<T>(rs);
    const T m = static_cast<T>(mu[n]), r = static_cast<T>(rs);
    const T* xp = x + n * M;
    T* yp = y + n * M;
#pragma omp simd
    for (int64_t e = 0; e < M; ++e) yp[e] = gamma[e] * ((xp[e] - m) * r) + beta[e];
  }
}

template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, bool per_element) {
  if (!per_element) return groupnorm_backward(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, N, C, HW, 1);
  const int64_t M = static_cast<int64_t>(C) * HW;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {  // dx = rs*(g - mean(g) - xhat*mean(g*xhat)), g = dy*gamma
    const double mu = mean[n], rs = rstd[n];
    const T* dyp = dy + n * M;
    const T* xp = x + n * M;
    double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t e = 0; e < M; ++e) {
      const double g = dyp[e] * gamma[e];
      sg += g;
      sgx += g * (xp[e] - mu) * rs;
    }
    const double mg = sg / static_cast<double>(M), mgx = sgx / static_cast<double>(M);
    T* dxp = dx + n * M;
#pragma omp simd
    for (int64_t e = 0; e < M; ++e) {
      const double xh = (xp[e] - mu) * rs;
      dxp[e] = static_cast<T>(rs * (dyp[e] * gamma[e] - mg - xh * mgx));
    }
  }
  // dbeta_e = sum_n dy, dgamma_e = sum_n dy*xhat: blocks of elements in parallel, n in order.
  constexpr int64_t kBlock = 256;
#pragma omp parallel for schedule(static)
  for (int64_t e0 = 0; e0 < M; e0 += kBlock) {
    const int64_t e1 = std::min(M, e0 + kBlock);
    std::vector<double> sdy(static_cast<std::size_t>(e1 - e0), 0.0), sdyx(sdy.size(), 0.0);
    for (int n = 0; n < N; ++n) {
      const double mu = mean[n], rs = rstd[n];
      for (int64_t e = e0; e < e1; ++e) {
        const int64_t o = n * M + e;
        sdy[e - e0] += dy[o];
        sdyx[e - e0] += dy[o] * (x[o] - mu) * rs;
      }
    }
    for (int64_t e = e0; e < e1; ++e) {
      dbeta[e] += static_cast<T>(sdy[e - e0]);
      dgamma[e] += static_cast<T>(sdyx[e - e0]);
    }
  }
}

template <typename T>
void layernorm_act_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N, int C, int HW,
                           bool per_element, T eps, Activation<T> act) {
  layernorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, per_element, eps);
  activation_forward_inplace(y, static_cast<int64_t>(N) * C * HW, act);
}

template <typename T>
void layernorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd, const T* y,
                            const T* x, const T* gamma, const T* /*beta: z is not recomputed*/, int N, int C,
                            int HW, bool per_element, Activation<T> act) {
  const T* dz = activation_backward(dy, y, static_cast<int64_t>(N) * C * HW, act);
  layernorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW, per_element);
}

#define NL_INSTANTIATE(T)                                                                       \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int,   \
                                     bool, T);                                                  \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,        \
                                      const T*, int, int, int, bool); \
  template void layernorm_act_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int, bool, T, \
                                    Activation<T>);                                                \
  template void layernorm_act_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,   \
                                     const T*, const T*, int, int, int, bool, Activation<T>);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
