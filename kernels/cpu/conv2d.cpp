// CPU conv2d: im2col + Eigen GEMM, one image per OpenMP iteration. Math: kernels/conv2d.h.
#include "kernels/conv2d.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

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

bool direct(const Conv2dShape& s) { return s.R == 1 && s.pad == 0; }  // col == x

// A thread's im2col scratch: empty when the convolution is direct.
template <typename T>
std::vector<T> col_buffer(const Conv2dShape& s) {
  return std::vector<T>(direct(s) ? 0 : static_cast<std::size_t>(s.C * s.R * s.R) * s.Ho() * s.Wo());
}

// The column matrix (CRR x HoWo) of one image: the image itself when direct, else im2col into buf.
template <typename T>
const T* columns(std::vector<T>& buf, const T* xn, const Conv2dShape& s) {
  if (direct(s)) return xn;
  im2col(buf.data(), xn, s);
  return buf.data();
}

}  // namespace

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const Conv2dShape& s) {
  const int P = s.Ho() * s.Wo(), CRR = s.C * s.R * s.R;
  const int64_t xs = static_cast<int64_t>(s.C) * s.H * s.W, ys = static_cast<int64_t>(s.K) * P;
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
  CMap<T> W(w, s.K, CRR);
#pragma omp parallel
  {
    std::vector<T> colbuf = col_buffer<T>(s);
#pragma omp for schedule(static)
    for (int n = 0; n < s.N; ++n) {
      CMap<T> dY(dy + n * ys, s.K, P);
      if (direct(s)) {
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
  // Per-thread partial sums over a static range of images, added in thread order: deterministic
  // for a given thread count.
  std::vector<RowMat<T>> part(static_cast<std::size_t>(nt), RowMat<T>::Zero(s.K, CRR));
  std::vector<std::vector<double>> partb(static_cast<std::size_t>(nt), std::vector<double>(s.K, 0.0));
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    std::vector<T> colbuf = col_buffer<T>(s);
#pragma omp for schedule(static)
    for (int n = 0; n < s.N; ++n) {
      const T* col = columns(colbuf, x + n * xs, s);
      CMap<T> dY(dy + n * ys, s.K, P);
      part[t].noalias() += dY * CMap<T>(col, CRR, P).transpose();
      if (db)
        for (int k = 0; k < s.K; ++k) partb[t][k] += static_cast<double>(dY.row(k).sum());
    }
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
