// add: element-wise accumulation, used by autograd when a variable feeds two consumers and their
// gradient contributions must be summed (core/autograd.cpp, add_grad).
//   a[i] += b[i]
// Shapes: a, b [n]. Outputs: a ACCUMULATED. a and b do not alias.
#pragma once
#include <cstdint>

namespace normlab::cpu {
template <typename T>
void add_inplace(T* a, const T* b, int64_t n);
}  // namespace normlab::cpu

// The CUDA backend (kernels/cuda/add.cu): the same function on device pointers, defined for
// T = float, launched asynchronously on the default stream.
namespace normlab::cuda {
template <typename T>
void add_inplace(T* a, const T* b, int64_t n);
}  // namespace normlab::cuda
