// dropout (inverted): keep_i = [hash_u32(seed, i) >= p * 2^32], scale = 1 / (1 - p)
//   forward   y_i  = x_i  * keep_i * scale
//   backward  dx_i = dy_i * keep_i * scale
// The mask is not stored: it is a counter-based hash of (seed, element index) (core/rng.h), so the
// backward pass recomputes it, and it does not depend on the thread count. A fresh seed per step.
// Shapes: y, x, dx, dy [n]. Preconditions: 0 <= p < 1. Outputs: y, dx ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void dropout_forward(T* y, const T* x, int64_t n, T p, uint64_t seed);
template <typename T> void dropout_backward(T* dx, const T* dy, int64_t n, T p, uint64_t seed);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
void dropout_forward(Tensor& y, const Tensor& x, double p, uint64_t seed);
void dropout_backward(Tensor& dx, const Tensor& dy, double p, uint64_t seed);
}  // namespace normlab::ops
