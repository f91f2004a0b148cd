// relu: y = max(x, 0);  backward: dx = dy * [y > 0]  (the subgradient at 0 is taken as 0).
// Shapes: y, x, dx, dy [n] (any layout). Outputs: y, dx ASSIGNED. y may alias x (in place).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void relu_forward(T* y, const T* x, int64_t n);
template <typename T> void relu_backward(T* dx, const T* dy, const T* y, int64_t n);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
void relu_forward(Tensor& y, const Tensor& x);
void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y);
}  // namespace normlab::ops
