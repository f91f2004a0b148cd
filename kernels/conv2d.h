// conv2d: 2-D convolution (cross-correlation), stride 1, square kernel R x R, zero padding `pad`.
//
// Forward   y[n,k,i,j] = b[k] + sum_{c,r,s} w[k,c,r,s] * x[n,c, i+r-pad, j+s-pad]   (x = 0 outside)
//           with Ho = H + 2*pad - R + 1, Wo = W + 2*pad - R + 1.
// Backward  dx[n,c,p,q] = sum_{k,r,s} w[k,c,r,s] * dy[n,k, p-r+pad, q-s+pad]        (dy = 0 outside)
//           dw[k,c,r,s] = sum_{n,i,j} dy[n,k,i,j] * x[n,c, i+r-pad, j+s-pad]
//           db[k]       = sum_{n,i,j} dy[n,k,i,j]
// CPU: 3x3 as a direct convolution per image (kernels/cpu/conv3x3_direct.h; dx is the forward
// convolution of dy padded by 2 - pad with w transposed and turned by 180 degrees); 1x1 as a GEMM
// per image (Eigen). CUDA: kernels/cuda/conv2d.cu (version 1, plain; version 2, register-tiled:
// kernels/cuda/versions.h).
//
// Shapes: x [N,C,H,W], w [K,C,R,R], b [K] or null, y/dy [N,K,Ho,Wo], dx like x, dw like w, db like b.
// Preconditions: R in {1, 3}, pad in {0, 1}, Ho >= 1 and Wo >= 1; buffers do not alias.
// Outputs: y and dx are ASSIGNED; dw and db are ACCUMULATED (+=). db may be null (no bias).
#pragma once
#include <cstdint>

#include "core/host_device.h"
#include "core/tensor.h"
#include "kernels/backends.h"

namespace normlab {

struct Conv2dShape {
  int N, C, H, W;  // input
  int K, R, pad;   // output channels, kernel size, zero padding
  NL_HOST_DEVICE int Ho() const { return H + 2 * pad - R + 1; }
  NL_HOST_DEVICE int Wo() const { return W + 2 * pad - R + 1; }
};

}  // namespace normlab

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dShape& s);
template <typename T>
void conv2d_backward_data(T* dx, const T* dy, const T* w, const Conv2dShape& s);
template <typename T>
void conv2d_backward_weight(T* dw, T* db, const T* dy, const T* x, const Conv2dShape& s);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// x [N,C,H,W], w [K,C,R,R], b [K] or undefined; y [N,K,Ho,Wo].
void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int pad);
void conv2d_backward_data(Tensor& dx, const Tensor& dy, const Tensor& w, int pad);
void conv2d_backward_weight(Tensor& dw, Tensor* db, const Tensor& dy, const Tensor& x, int pad);
}  // namespace normlab::ops
