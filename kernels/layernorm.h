// layernorm: Layer Normalization (Ba, Kiros & Hinton, 2016) over (C, H, W) of each sample.
//
// Forward, with M = C*H*W values per sample n:
//   mean_n = (1/M) sum_{c,h,w} x[n,c,h,w]     var_n = (1/M) sum (x - mean_n)^2
//   rstd_n = 1 / sqrt(var_n + eps)            xhat  = (x - mean_n) * rstd_n
//   y = gamma * xhat + beta, where the affine parameters are either
//     per channel  (per_element = false): gamma, beta of shape [C]       -> 2*C parameters
//     per element  (per_element = true):  gamma, beta of shape [C, H, W] -> 2*C*H*W parameters
//   (PyTorch's nn.LayerNorm([C,H,W]) is per element; per channel is GroupNorm with G = 1.)
// Backward, with g_i = dy_i * gamma(i) over the M values i of one sample:
//   dbeta  += sum over n of dy          dgamma += sum over n of dy * xhat   (and over h,w if per channel)
//   dx_i    = rstd_n * (g_i - mean(g) - xhat_i * mean(g * xhat))
//
// Shapes: x, y, dx, dy [N, C, H*W]; mean, rstd [N]; gamma, beta, dgamma, dbeta [C] or [C*H*W].
// Preconditions: eps > 0.
// Outputs: y, mean, rstd, dx ASSIGNED; dgamma, dbeta ACCUMULATED.
//
// With an activation (layernorm_act_*, kernels/activation.h): the forward writes y = act(z) for the
// z = gamma * xhat + beta above; the backward takes dy = dL/dy of that y, the forward's y and beta,
// and computes the gradients above with dz = dy * act'(z) in place of dy.
#pragma once
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                       int C, int HW, bool per_element, T eps);
template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                        const T* x, const T* gamma, int N, int C, int HW, bool per_element);
template <typename T>
void layernorm_act_forward(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int N,
                           int C, int HW, bool per_element, T eps, Activation<T> act);
template <typename T>
void layernorm_act_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* mean, const T* rstd,
                            const T* y, const T* x, const T* gamma, const T* beta, int N, int C, int HW,
                            bool per_element, Activation<T> act);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// mean, rstd [N]; gamma/beta [C] (per channel) or [C,H,W] (per element), told apart by shape.
void layernorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, double eps);
void layernorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma);
void layernorm_act_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, double eps, const Act& act);
void layernorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                            const Tensor& mean, const Tensor& rstd, const Tensor& y, const Tensor& x,
                            const Tensor& gamma, const Tensor& beta, const Act& act);
}  // namespace normlab::ops
