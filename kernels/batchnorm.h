// batchnorm: Batch Normalization over (N, H, W) for each channel c (Ioffe & Szegedy, 2015).
//
// Training forward, with M = N*H*W values per channel:
//   mean_c = (1/M) sum_{n,h,w} x            var_c = (1/M) sum (x - mean_c)^2     (biased)
//   rstd_c = 1 / sqrt(var_c + eps)          xhat  = (x - mean_c) * rstd_c
//   y      = gamma_c * xhat + beta_c
//   running_mean = (1 - momentum) * running_mean + momentum * mean_c
//   running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)   (unbiased)
// Eval forward: y = gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c.
// Backward (training; gradients flow through mean_c and var_c):
//   dbeta_c  += sum dy                 dgamma_c += sum dy * xhat
//   dx        = gamma_c * rstd_c / M * (M * dy - sum dy - xhat * sum(dy * xhat))
//
// Shapes: x, y, dx, dy [N, C, H*W]; gamma, beta, dgamma, dbeta, mean, rstd, running_* [C].
// Preconditions: N*H*W >= 2 for training; eps > 0; 0 <= momentum <= 1.
// Outputs: y, mean, rstd, dx ASSIGNED; running_mean/var UPDATED in place; dgamma, dbeta ACCUMULATED.
//
// With an activation (batchnorm_act_*, kernels/activation.h): the forward writes y = act(z) for the
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
void batchnorm_forward_train(T* y, T* mean, T* rstd, T* running_mean, T* running_var, const T* x,
                             const T* gamma, const T* beta, int N, int C, int HW, T eps, T momentum);
template <typename T>
void batchnorm_forward_eval(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int N, int C, int HW, T eps);
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW);
template <typename T>
void batchnorm_act_forward_train(T* y, T* mean, T* rstd, T* running_mean, T* running_var, const T* x,
                                 const T* gamma, const T* beta, int N, int C, int HW, T eps, T momentum,
                                 Activation<T> act);
template <typename T>
void batchnorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                            const T* y, const T* x, const T* gamma, const T* beta, int N, int C, int HW,
                            Activation<T> act);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// x [N,C,H,W]; per-channel tensors [C].
void batchnorm_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean,
                             Tensor& running_var, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, double eps, double momentum);
void batchnorm_forward_eval(Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps);
void batchnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma);
void batchnorm_act_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean,
                                 Tensor& running_var, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, double eps, double momentum, const Act& act);
void batchnorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                            const Tensor& mean, const Tensor& rstd, const Tensor& y, const Tensor& x,
                            const Tensor& gamma, const Tensor& beta, const Act& act);
}  // namespace normlab::ops
