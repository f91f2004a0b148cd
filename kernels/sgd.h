// sgd: one step of stochastic gradient descent with momentum (PyTorch's formulation).
//   v = momentum * v + dw
//   step = nesterov ? dw + momentum * v : v
//   w -= lr * step
// Weight decay and L1 are not here: they are added to dw by the penalty op first.
// Shapes: w, v, dw [n]. Preconditions: lr >= 0, 0 <= momentum < 1; v starts at zero.
// Outputs: w and v UPDATED in place.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void sgd_step(T* w, T* v, const T* dw, int64_t n, T lr, T momentum, bool nesterov);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, double lr, double momentum, bool nesterov);
}  // namespace normlab::ops
