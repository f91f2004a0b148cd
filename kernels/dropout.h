// dropout (inverted): keep_i = [hash_u32(seed, i) >= p * 2^32], scale = 1 / (1 - p)
//   forward   y_i  = x_i  * keep_i * scale
//   backward  dx_i = dy_i * keep_i * scale
// The mask is not stored: it is a counter-based hash of (seed, element index) (core/rng.h), so the
// backward pass recomputes it, and it does not depend on the thread count. A fresh seed per step.
// Shapes: y, x, dx, dy [n]. Preconditions: 0 <= p < 1. Outputs: y, dx ASSIGNED.
//
// relu_dropout: the dropout of a ReLU's output in one pass (the model's ReLU -> Dropout pair:
// one launch instead of two each way on CUDA, and the ReLU's output is never written)
//   forward   y_i  = max(x_i, 0) * keep_i * scale
//   backward  dx_i = dy_i * scale * [y_i > 0]
// y_i > 0 exactly when element i was kept and x_i > 0 (scale >= 1 cannot round a positive value
// to 0), so the backward reads y and recomputes no mask. The same bits as relu_forward then
// dropout_forward, and dropout_backward then relu_backward (relu.h): each element goes through
// the same multiply by scale or nothing, and a zeroed one is +0 in both.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void dropout_forward(T* y, const T* x, int64_t n, T p, uint64_t seed);
template <typename T> void dropout_backward(T* dx, const T* dy, int64_t n, T p, uint64_t seed);
template <typename T> void relu_dropout_forward(T* y, const T* x, int64_t n, T p, uint64_t seed);
template <typename T> void relu_dropout_backward(T* dx, const T* dy, const T* y, int64_t n, T p);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
void dropout_forward(Tensor& y, const Tensor& x, double p, uint64_t seed);
void dropout_backward(Tensor& dx, const Tensor& dy, double p, uint64_t seed);
void relu_dropout_forward(Tensor& y, const Tensor& x, double p, uint64_t seed);
void relu_dropout_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double p);
}  // namespace normlab::ops
