// add: element-wise accumulation, used by autograd when a variable feeds two consumers and their
// gradient contributions must be summed (core/autograd.cpp, add_grad).
//   a[i] += b[i]
// Shapes: a, b [n]. Outputs: a ACCUMULATED. a and b do not alias.
#pragma once
#include <cstdint>

#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void add_inplace(T* a, const T* b, int64_t n);
)
// clang-format on
