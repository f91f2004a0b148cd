// CPU conv2d, one image per OpenMP iteration. Math: kernels/conv2d.h.
//   3x3: the direct kernels (kernels/cpu/conv3x3_direct.h); the data gradient is the forward
//     convolution of dy, padded by 2 - pad, with the weights transposed (K <-> C) and turned by
//     180 degrees. They replaced im2col + Eigen GEMM, which spent more time copying (im2col, the
//     GEMM's packing, col2im) than multiplying: per training step 7.7 -> 4.9 ms (--profile).
//   1x1: Eigen GEMM on the image itself (its column matrix); im2col + GEMM remains for the 1x1
//     convolution with padding 1, which the contract allows and no network here uses.
#include "kernels/conv2d.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/conv3x3_direct.h"

namespace normlab::cpu {
namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using CMap = Eigen::Map<const RowMat<T>>;

// col[(c*R + r)*R + s][i*Wo + j] = x[c][i + r - pad][j + s - pad], zero outside the image.
template <typename T>
void im2col(T* col, const T* x, const Conv2dShape& s) {
  const int Ho = s.Ho(), Wo = s.Wo(), R = s.R;
  for (int c = 0; c < s.C; ++c)
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < R; ++q) {
        T* dst = col + static_cast<int64_t>((c * R + r) * R + q) * Ho * Wo;
        const T* src = x + static_cast<int64_t>(c) * s.H * s.W;
        for (int i = 0; i < Ho; ++i) {
          const int hi = i + r - s.pad;
          T* d = dst + i * Wo;
          if (hi < 0 || hi >= s.H) {
            std::fill(d, d + Wo, T(0));
            continue;
          }
          const int j0 = std::max(0, s.pad - q), j1 = std::min(Wo, s.W + s.pad - q);
          for (int j = 0; j < j0; ++j) d[j] = T(0);
          const T* srow = src + hi * s.W + (q - s.pad);
          for (int j = j0; j < j1; ++j) d[j] = srow[j];
          for (int j = std::max(j0, j1); j < Wo; ++j) d[j] = T(0);
        }
      }
}

// The adjoint of im2col: dx[c][i + r - pad][j + s - pad] += col[...]. dx must be zeroed first.
template <typename T>
void col2im(T* dx, const T* col, const Conv2dShape& s) {
  const int Ho = s.Ho(), Wo = s.Wo(), R = s.R;
  for (int c = 0; c < s.C; ++c)
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < R; ++q) {
        const T* src = col + static_cast<int64_t>((c * R + r) * R + q) * Ho * Wo;
        T* dst = dx + static_cast<int64_t>(c) * s.H * s.W;
        for (int i = 0; i < Ho; ++i) {
          const int hi = i + r - s.pad;
          if (hi < 0 || hi >= s.H) continue;
          const int j0 = std::max(0, s.pad - q), j1 = std::min(Wo, s.W + s.pad - q);
          T* drow = dst + hi * s.W + (q - s.pad);
          const T* srow = src + i * Wo;
          for (int j = j0; j < j1; ++j) drow[j] += srow[j];
        }
      }
}

bool is_1x1(const Conv2dShape& s) { return s.R == 1 && s.pad == 0; }  // col == x

// A thread's im2col scratch: empty when the convolution is direct.
template <typename T>
std::vector<T> col_buffer(const Conv2dShape& s) {
  return std::vector<T>(is_1x1(s) ? 0 : static_cast<std::size_t>(s.C * s.R * s.R) * s.Ho() * s.Wo());
}

// The column matrix (CRR x HoWo) of one image: the image itself when direct, else im2col into buf.
template <typename T>
const T* columns(std::vector<T>& buf, const T* xn, const Conv2dShape& s) {
  if (is_1x1(s)) return xn;
  im2col(buf.data(), xn, s);
  return buf.data();
}

}  // namespace

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dShape& s) {
  const int P = s.Ho() * s.Wo(), CRR = s.C * s.R * s.R;
  const int64_t xs = static_cast<int64_t>(s.C) * s.H * s.W, ys = static_cast<int64_t>(s.K) * P;
  if (s.R == 3) {
    const auto wt = direct::pack<T>(s.K, s.C, [&](int k, int c, int tap) { return w[(k * s.C + c) * 9 + tap]; });
    return direct::conv_images(y, x, s.N, s.C, s.H, s.W, s.pad, s.K, wt, b);
  }
  CMap<T> W(w, s.K, CRR);
#pragma omp parallel
  {
    std::vector<T> colbuf = col_buffer<T>(s);
#pragma omp for schedule(static)
    for (int n = 0; n < s.N; ++n) {
      const T* col = columns(colbuf, x + n * xs, s);
      Eigen::Map<RowMat<T>> Y(y + n * ys, s.K, P);
      Y.noalias() = W * CMap<T>(col, CRR, P);
      if (b)
        for (int k = 0; k < s.K; ++k) Y.row(k).array() += b[k];
    }
  }
}

template <typename T>
void conv2d_backward_data(T* dx, const T* dy, const T* w, const Conv2dShape& s) {
  const int P = s.Ho() * s.Wo(), CRR = s.C * s.R * s.R;
  const int64_t xs = static_cast<int64_t>(s.C) * s.H * s.W, ys = static_cast<int64_t>(s.K) * P;
  if (s.R == 3) {  // dx[c] = sum_k w[k, c] turned 180 degrees, correlated with dy padded by 2 - pad
    const auto wt = direct::pack<T>(s.C, s.K, [&](int c, int k, int tap) { return w[(k * s.C + c) * 9 + 8 - tap]; });
    return direct::conv_images(dx, dy, s.N, s.K, s.Ho(), s.Wo(), 2 - s.pad, s.C, wt, static_cast<const T*>(nullptr));
  }
  CMap<T> W(w, s.K, CRR);
#pragma omp parallel
  {
    std::vector<T> colbuf = col_buffer<T>(s);
#pragma omp for schedule(static)
    for (int n = 0; n < s.N; ++n) {
      CMap<T> dY(dy + n * ys, s.K, P);
      if (is_1x1(s)) {
        Eigen::Map<RowMat<T>>(dx + n * xs, CRR, P).noalias() = W.transpose() * dY;
      } else {
        Eigen::Map<RowMat<T>>(colbuf.data(), CRR, P).noalias() = W.transpose() * dY;
        std::memset(dx + n * xs, 0, sizeof(T) * static_cast<std::size_t>(xs));
        col2im(dx + n * xs, colbuf.data(), s);
      }
    }
  }
}

template <typename T>
void conv2d_backward_weight(T* dw, T* db, const T* dy, const T* x, const Conv2dShape& s) {
  const int P = s.Ho() * s.Wo(), CRR = s.C * s.R * s.R;
  const int64_t xs = static_cast<int64_t>(s.C) * s.H * s.W, ys = static_cast<int64_t>(s.K) * P;
  const int nt = omp_get_max_threads();
  // Per-thread partial sums over a static range of images (3x3: of chunks of B images), added in
  // thread order: deterministic for a given thread count.
  std::vector<RowMat<T>> part(static_cast<std::size_t>(nt), RowMat<T>::Zero(s.K, CRR));
  std::vector<std::vector<double>> partb(static_cast<std::size_t>(nt), std::vector<double>(s.K, 0.0));
  const int B = s.R == 3 ? direct::weight_grad_images<T>(s.C, s.K, s.H, s.W, s.pad) : 1;
  const int chunks = (s.N + B - 1) / B;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    std::vector<T> colbuf = s.R == 3 ? std::vector<T>() : col_buffer<T>(s);
    direct::Scratch<T> scratch;
    std::vector<T> lanes(s.R == 3 ? direct::lanes<T>(s.K, s.C) : 0, T(0));  // the direct kernel's sums
#pragma omp for schedule(static)
    for (int ch = 0; ch < chunks; ++ch) {
      const int n0 = ch * B, n1 = std::min(s.N, n0 + B);
      if (s.R == 3)
        direct::weight_grad(lanes.data(), dy + n0 * ys, x + n0 * xs, n1 - n0, s.C, s.H, s.W, s.pad, s.K, scratch);
      for (int n = n0; n < n1; ++n) {
        CMap<T> dY(dy + n * ys, s.K, P);
        if (s.R != 3) part[t].noalias() += dY * CMap<T>(columns(colbuf, x + n * xs, s), CRR, P).transpose();
        if (db)
          for (int k = 0; k < s.K; ++k) partb[t][k] += static_cast<double>(dY.row(k).sum());
      }
    }
    if (s.R == 3) direct::sum_lanes(part[t].data(), lanes.data(), s.K, s.C);
  }
  Eigen::Map<RowMat<T>> dW(dw, s.K, CRR);
  for (int t = 0; t < nt; ++t) dW += part[t];
  if (db)
    for (int t = 0; t < nt; ++t)
      for (int k = 0; k < s.K; ++k) db[k] += static_cast<T>(partb[t][k]);
}

#define NL_INSTANTIATE(T)                                                                  \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&);  \
  template void conv2d_backward_data<T>(T*, const T*, const T*, const Conv2dShape&);      \
  template void conv2d_backward_weight<T>(T*, T*, const T*, const T*, const Conv2dShape&);
NL_INSTANTIATE(float)
NL_INSTANTIATE(double)
#undef NL_INSTANTIATE

}  // namespace normlab::cpu
