// CPU group norm: per-row sums in parallel, then per-(n, g) statistics (kernels/cpu/norm_rows.h);
// dgamma/dbeta come from the same row sums as dx, added over n in order, so no result depends on
// the thread count. Math: kernels/groupnorm.h.
#include "kernels/groupnorm.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/norm_rows.h"

namespace normlab::cpu {

template <typename T>
void groupnorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, int G, T eps) {
  const rows::Groups g = rows::sample_groups(N, C, HW, G);
  std::vector<double> mu, var;
  rows::group_stats(mu, var, x, g);
  std::vector<double> rstd_d(mu.size());
  for (std::size_t ng = 0; ng < mu.size(); ++ng) {
    rstd_d[ng] = 1.0 / std::sqrt(var[ng] + static_cast<double>(eps));
    mean[ng] = static_cast<T>(mu[ng]);
    rstd[ng] = static_cast<T>(rstd_d[ng]);
  }
  std::vector<T> a(static_cast<std::size_t>(N) * C), b(a.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {  // y = gamma*(x - mu)*rs + beta = a*x + b
      const int ng = g.of(n, c);
      const double rs = rstd_d[ng];
      a[n * C + c] = static_cast<T>(gamma[c] * rs);
      b[n * C + c] = static_cast<T>(beta[c] - gamma[c] * mu[ng] * rs);
    }
  rows::apply_affine(y, x, a, b, static_cast<int64_t>(N) * C, HW);
}

template <typename T>
void groupnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, int G) {
  const rows::Groups g = rows::sample_groups(N, C, HW, G);
  const double M = g.size();
  const auto s = rows::row_dy_sums(dy, x, mean, g);
  // Per (n, g), with gi = dy*gamma_c: mean(gi) and mean(gi*xhat) from the row sums; then
  // dx = rs*(gamma_c*dy - mean(gi) - xhat*mean(gi*xhat)) = A*dy + B*(x - mean) + C0 per row.
  std::vector<double> mg(static_cast<std::size_t>(N) * G, 0.0), mgx(mg.size(), 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const int ng = g.of(n, c);
      mg[ng] += gamma[c] * s[n * C + c].dy;
      mgx[ng] += gamma[c] * s[n * C + c].dyxm;
    }
  std::vector<T> A(static_cast<std::size_t>(N) * C), B(A.size()), C0(A.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const int ng = g.of(n, c);
      const double rs = rstd[ng], m1 = mg[ng] / M, m2 = mgx[ng] * rs / M;
      A[n * C + c] = static_cast<T>(rs * gamma[c]);
      B[n * C + c] = static_cast<T>(-rs * rs * m2);
      C0[n * C + c] = static_cast<T>(-rs * m1);
    }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < static_cast<int64_t>(N) * C; ++r)
    rows::affine2(dx + r * HW, dy + r * HW, x + r * HW, HW, A[r], B[r], mean[g.group(r)], C0[r]);
  for (int c = 0; c < C; ++c) {  // dbeta = sum dy, dgamma = sum dy*xhat over n, h, w
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {
      sdy += s[n * C + c].dy;
      sdyx += s[n * C + c].dyxm * rstd[g.of(n, c)];
    }
    dbeta[c] += static_cast<T>(sdy);
    dgamma[c] += static_cast<T>(sdyx);
  }
}

template <typename T>
void groupnorm_act_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N, int C, int HW,
                           int G, T eps, Activation<T> act) {
  groupnorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, G, eps);
  activation_forward_inplace(y, static_cast<int64_t>(N) * C * HW, act);
}

template <typename T>
void groupnorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd, const T* y,
                            const T* x, const T* gamma, const T* /*beta: z is not recomputed*/, int N, int C,
                            int HW, int G, Activation<T> act) {
  const T* dz = activation_backward(dy, y, static_cast<int64_t>(N) * C * HW, act);
  groupnorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW, G);
}

#define NL_INSTANTIATE(T)                                                                      \
  template void groupnorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int,  \
                                     int, T);                                                  \
  template void groupnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                      const T*, int, int, int, int); \
  template void groupnorm_act_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int, int, T, \
                                    Activation<T>);                                                \
  template void groupnorm_act_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,   \
                                     const T*, const T*, int, int, int, int, Activation<T>);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
