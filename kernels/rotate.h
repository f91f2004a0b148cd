// rotate: the training augmentation, a rotation of each image about its centre by angle[n]
// (radians, counter-clockwise), sampled bilinearly; points that fall outside read `fill`.
//   For output pixel (i, j), with centre (ci, cj) = ((H-1)/2, (W-1)/2):
//     u = cos(a) (j - cj) + sin(a) (i - ci) + cj       (source column)
//     v = -sin(a) (j - cj) + cos(a) (i - ci) + ci      (source row)
//     y[n,i,j] = bilinear(x[n], v, u)
// a = angle[o + n]: o = 0, or with a step counter (kernels/step.h) o = b * batch, angle then
// holding the whole epoch's angles (the batch's place read from memory, for CUDA Graphs).
// No backward: it is applied to input data only. angle = 0 reproduces x exactly.
// Shapes: x, y [N, H, W]; angle [N], with a counter [>= o + N]. Outputs: y ASSIGNED. y must not alias x.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void rotate_forward(T* y, const T* x, const T* angle, const int32_t* step, int64_t batch, int N, int H, int W, T fill);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// x, y [N,1,H,W] (or [N,H,W]); angle [N] radians (with a step counter: the epoch's, from b * batch).
void rotate_forward(Tensor& y, const Tensor& x, const Tensor& angle, double fill, const Tensor& step = Tensor(),
                    int64_t batch = 0);
}  // namespace normlab::ops
