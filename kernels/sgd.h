// sgd: one step of stochastic gradient descent with momentum (PyTorch's formulation), with the
// gradient of the L1/L2 penalty (kernels/penalty.h) fused in for the first n_decay elements:
//   g_i = dw_i + (l1 * sign(w_i) + l2 * w_i)   for i < n_decay   (sign(0) = 0)
//   g_i = dw_i                                 otherwise
//   v = momentum * v + g
//   step = nesterov ? g + momentum * v : v
//   w -= lr * step,   lr = lr[s] with s the run's step (kernels/step.h), or lr[0] without a counter
// The optimizer (layers/optim.h) keeps every parameter, its gradient and its velocity in one flat
// buffer each, the penalised ones (the convolution weights) first, so that one launch of this op
// updates the whole model (and one zeroing clears every gradient).
// The learning rate is read from memory, the step's entry of the run's schedule, so that a CUDA
// Graph can replay the step with the rate of each step.
// Shapes: w, v, dw [n]; 0 <= n_decay <= n; lr [S] with s < S. Preconditions: lr >= 0,
// 0 <= momentum < 1; v starts at zero.
// Outputs: w and v UPDATED in place; dw is read only.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void sgd_step(T* w, T* v, const T* dw, int64_t n, int64_t n_decay, T l1, T l2, const T* lr, const int32_t* step,
              T momentum, bool nesterov);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// w, v, dw: the same shape; the penalty applies to w's first n_decay elements (in memory order).
// lr: the schedule ([S], w's dtype and device), read at the counter's s (step: i32 [2], or undefined: lr[0]).
void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, int64_t n_decay, double l1, double l2, const Tensor& lr,
              const Tensor& step, double momentum, bool nesterov);
// One step at a given rate (tests, one-off steps; on CUDA it copies the rate to the GPU first).
void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, int64_t n_decay, double l1, double l2, double lr, double momentum,
              bool nesterov);
}  // namespace normlab::ops
