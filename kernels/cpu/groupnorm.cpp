// CPU group norm: statistics and dx per (n, g) in parallel; dgamma/dbeta per channel in parallel
// (no shared accumulators, so results do not depend on the thread count). Math: kernels/groupnorm.h.
#include "kernels/groupnorm.h"

#include <cmath>
#include <cstdint>

namespace normlab::cpu {

template <typename T>
void groupnorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, int G, T eps) {
  const int Cg = C / G;
  const int64_t M = static_cast<int64_t>(Cg) * HW;
#pragma omp parallel for schedule(static)
  for (int ng = 0; ng < N * G; ++ng) {
    const int64_t off = static_cast<int64_t>(ng) * M;  // group g of sample n is contiguous
    double s = 0;
    for (int64_t i = 0; i < M; ++i) s += x[off + i];
    const double mu = s / static_cast<double>(M);
    double ss = 0;
    for (int64_t i = 0; i < M; ++i) ss += (x[off + i] - mu) * (x[off + i] - mu);
    const double rs = 1.0 / std::sqrt(ss / static_cast<double>(M) + static_cast<double>(eps));
    mean[ng] = static_cast<T>(mu);
    rstd[ng] = static_cast<T>(rs);
    const int c0 = (ng % G) * Cg;
    for (int cc = 0; cc < Cg; ++cc) {
      const int c = c0 + cc;
      const T a = static_cast<T>(gamma[c] * rs), b = static_cast<T>(beta[c] - gamma[c] * mu * rs);
      const int64_t o = off + static_cast<int64_t>(cc) * HW;
      for (int i = 0; i < HW; ++i) y[o + i] = a * x[o + i] + b;
    }
  }
}

template <typename T>
void groupnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, int G) {
  const int Cg = C / G;
  const int64_t M = static_cast<int64_t>(Cg) * HW;
#pragma omp parallel for schedule(static)
  for (int ng = 0; ng < N * G; ++ng) {
    const int64_t off = static_cast<int64_t>(ng) * M;
    const double mu = mean[ng], rs = rstd[ng];
    const int c0 = (ng % G) * Cg;
    double sg = 0, sgx = 0;
    for (int cc = 0; cc < Cg; ++cc) {
      const double ga = gamma[c0 + cc];
      const int64_t o = off + static_cast<int64_t>(cc) * HW;
      for (int i = 0; i < HW; ++i) {
        const double g = dy[o + i] * ga;
        sg += g;
        sgx += g * (x[o + i] - mu) * rs;
      }
    }
    const double mg = sg / static_cast<double>(M), mgx = sgx / static_cast<double>(M);
    for (int cc = 0; cc < Cg; ++cc) {
      const double ga = gamma[c0 + cc];
      const int64_t o = off + static_cast<int64_t>(cc) * HW;
      for (int i = 0; i < HW; ++i) {
        const double xh = (x[o + i] - mu) * rs;
        dx[o + i] = static_cast<T>(rs * (dy[o + i] * ga - mg - xh * mgx));
      }
    }
  }
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; ++c) {
    const int g = c / Cg;
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {
      const double mu = mean[n * G + g], rs = rstd[n * G + g];
      const int64_t o = (static_cast<int64_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        sdy += dy[o + i];
        sdyx += dy[o + i] * (x[o + i] - mu) * rs;
      }
    }
    dbeta[c] += static_cast<T>(sdy);
    dgamma[c] += static_cast<T>(sdyx);
  }
}

#define NL_INSTANTIATE(T)                                                                      \
  template void groupnorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int,  \
                                     int, T);                                                  \
  template void groupnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                      const T*, int, int, int, int);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
