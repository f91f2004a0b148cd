// CPU layer norm: statistics and dx per sample in parallel; dgamma/dbeta per parameter in parallel.
// Math: kernels/layernorm.h.
#include "kernels/layernorm.h"

#include <cmath>
#include <cstdint>

namespace normlab::cpu {

template <typename T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, bool per_element, T eps) {
  const int64_t M = static_cast<int64_t>(C) * HW;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const T* xp = x + n * M;
    T* yp = y + n * M;
    double s = 0;
    for (int64_t i = 0; i < M; ++i) s += xp[i];
    const double mu = s / static_cast<double>(M);
    double ss = 0;
    for (int64_t i = 0; i < M; ++i) ss += (xp[i] - mu) * (xp[i] - mu);
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(M) + static_cast<double>(eps));
    mean[n] = static_cast<T>(mu);
    rstd[n] = static_cast<T>(rs);
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) {
        const int64_t e = static_cast<int64_t>(c) * HW + i;
        const int64_t p = per_element ? e : c;
        yp[e] = static_cast<T>(gamma[p] * ((xp[e] - mu) * rs) + beta[p]);
      }
  }
}

template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, bool per_element) {
  const int64_t M = static_cast<int64_t>(C) * HW;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const double mu = mean[n], rs = rstd[n];
    const int64_t off = n * M;
    double sg = 0, sgx = 0;
    for (int64_t e = 0; e < M; ++e) {
      const double g = dy[off + e] * gamma[per_element ? e : e / HW];
      sg += g;
      sgx += g * (x[off + e] - mu) * rs;
    }
    const double mg = sg / static_cast<double>(M), mgx = sgx / static_cast<double>(M);
    for (int64_t e = 0; e < M; ++e) {
      const double g = dy[off + e] * gamma[per_element ? e : e / HW];
      const double xh = (x[off + e] - mu) * rs;
      dx[off + e] = static_cast<T>(rs * (g - mg - xh * mgx));
    }
  }
  const int64_t P = per_element ? M : C;  // number of affine parameters
  const int64_t span = per_element ? 1 : HW;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < P; ++p) {
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {
      const double mu = mean[n], rs = rstd[n];
      const int64_t o = n * M + p * span;
      for (int64_t i = 0; i < span; ++i) {
        sdy += dy[o + i];
        sdyx += dy[o + i] * (x[o + i] - mu) * rs;
      }
    }
    dbeta[p] += static_cast<T>(sdy);
    dgamma[p] += static_cast<T>(sdyx);
  }
}

#define NL_INSTANTIATE(T)                                                                       \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int,   \
                                     bool, T);                                                  \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,        \
                                      const T*, int, int, int, bool);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
