// groupnorm: Group Normalization (Wu & He, 2018). The C channels are split into G groups of C/G
// consecutive channels; statistics are taken per sample n and group g over (C/G, H, W), so they do
// not depend on the batch. The affine transform is per channel.
//
// Forward, with M = (C/G)*H*W values per (n, g):
//   mean_ng = (1/M) sum_{c in g, h, w} x[n,c,h,w]     var_ng = (1/M) sum (x - mean_ng)^2
//   rstd_ng = 1 / sqrt(var_ng + eps)                  xhat   = (x - mean_ng) * rstd_ng
//   y[n,c,h,w] = gamma_c * xhat + beta_c
// Backward, with g_i = dy_i * gamma_c(i) over the M values i of one (n, g):
//   dbeta_c  += sum_{n,h,w} dy                         dgamma_c += sum_{n,h,w} dy * xhat
//   dx_i      = rstd_ng * (g_i - mean(g) - xhat_i * mean(g * xhat))
// G = 1 is layer norm with a per-channel affine; G = C is instance norm.
//
// Shapes: x, y, dx, dy [N, C, H*W]; gamma, beta, dgamma, dbeta [C]; mean, rstd [N, G].
// Preconditions: G >= 1 and C % G == 0; eps > 0.
// Outputs: y, mean, rstd, dx ASSIGNED; dgamma, dbeta ACCUMULATED.
//
// With an activation (groupnorm_act_*, kernels/activation.h): the forward writes y = act(z) for the
// z = gamma_c * xhat + beta_c above; the backward takes dy = dL/dy of that y, the forward's y and
// beta, and computes the gradients above with dz = dy * act'(z) in place of dy.
#pragma once
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void groupnorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, int G, T eps);
template <typename T>
void groupnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, int G);
template <typename T>
void groupnorm_act_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                           int C, int HW, int G, T eps, Activation<T> act);
template <typename T>
void groupnorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                            const T* y, const T* x, const T* gamma, const T* beta, int N, int C, int HW,
                            int G, Activation<T> act);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// mean, rstd [N, G].
void groupnorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, int groups, double eps);
void groupnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma,
                        int groups);
void groupnorm_act_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, int groups, double eps, const Act& act);
void groupnorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                            const Tensor& mean, const Tensor& rstd, const Tensor& y, const Tensor& x,
                            const Tensor& gamma, const Tensor& beta, int groups, const Act& act);
}  // namespace normlab::ops
