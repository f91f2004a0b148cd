// add: element-wise accumulation, used by autograd when a variable feeds two consumers and their
// gradient contributions must be summed (core/autograd.cpp, add_grad).
//   a[i] += b[i]
// Shapes: a, b [n]. Outputs: a ACCUMULATED. a and b do not alias.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void add_inplace(T* a, const T* b, int64_t n);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
void add_inplace(Tensor& a, const Tensor& b);  // a += b
}  // namespace normlab::ops
