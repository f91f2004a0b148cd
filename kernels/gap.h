// gap: global average pooling over the spatial plane.
//   forward   y[p] = (1/HW) sum_i x[p, i]          backward  dx[p, i] = dy[p] / HW
// Shapes: x, dx [P, HW] with P = N*C; y, dy [P]. Outputs: y, dx ASSIGNED.
#pragma once
#include <cstdint>

namespace normlab::cpu {
template <typename T> void gap_forward(T* y, const T* x, int P, int HW);
template <typename T> void gap_backward(T* dx, const T* dy, int P, int HW);
}  // namespace normlab::cpu

// The CUDA backend (kernels/cuda/gap.cu): the same functions on device pointers, defined for
// T = float, launched asynchronously on the default stream.
namespace normlab::cuda {
template <typename T> void gap_forward(T* y, const T* x, int P, int HW);
template <typename T> void gap_backward(T* dx, const T* dy, int P, int HW);
}  // namespace normlab::cuda
