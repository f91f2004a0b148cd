// gap: global average pooling over the spatial plane.
//   forward   y[p] = (1/HW) sum_i x[p, i]          backward  dx[p, i] = dy[p] / HW
// Shapes: x, dx [P, HW] with P = N*C; y, dy [P]. Outputs: y, dx ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void gap_forward(T* y, const T* x, int P, int HW);
template <typename T> void gap_backward(T* dx, const T* dy, int P, int HW);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// x [N,C,H,W] -> y [N,C,1,1].
void gap_forward(Tensor& y, const Tensor& x);
void gap_backward(Tensor& dx, const Tensor& dy);
}  // namespace normlab::ops
