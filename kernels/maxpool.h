// maxpool: 2x2 max pooling, stride 2, no padding (an odd last row/column is dropped).
//
// Forward   y[p, i, j] = max_{a,b in {0,1}} x[p, 2i+a, 2j+b],   argmax = flat index (in the H*W
//           plane of p) of the winner; the first maximum in (a, b) row-major order wins ties.
// Backward  dx[p, argmax[p,i,j]] = dy[p, i, j], every other dx = 0.
// Shapes: x, dx [P, H, W] with P = N*C; y, dy, argmax [P, H/2, W/2]. Preconditions: H, W >= 2.
// Outputs: y, argmax, dx ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void maxpool2x2_forward(T* y, int32_t* argmax, const T* x, int P, int H, int W);
template <typename T>
void maxpool2x2_backward(T* dx, const T* dy, const int32_t* argmax, int P, int H, int W);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// x [N,C,H,W]; y, argmax (i32) [N,C,H/2,W/2].
void maxpool2x2_forward(Tensor& y, Tensor& argmax, const Tensor& x);
void maxpool2x2_backward(Tensor& dx, const Tensor& dy, const Tensor& argmax);
}  // namespace normlab::ops
