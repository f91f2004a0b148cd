// The CPU norms' shared core (kernels/cpu/{batchnorm,groupnorm,layernorm}.cpp), as
// kernels/cuda/norm_segment.cuh is the CUDA norms'. Private to kernels/cpu/.
//
// A ROW is one plane x[n, c, :] of HW contiguous values. Every norm here takes its statistics
// over a GROUP of rows and applies a per-row affine map:
//   batch norm   group c       = rows (n, c) for every n        (N*HW values)
//   group norm   group (n, g)  = rows (n, c) for c in g          (C/G*HW values, contiguous)
//   layer norm   group n       = rows (n, c) for every c         (C*HW values, contiguous)
// So each kernel is: per-row sums (the O(N*C*HW) passes, in parallel over rows, SIMD inside a
// row), then per-group sums of those row sums in row order (O(N*C), serial), then one per-row
// affine pass. With y = a*x + b per row the forward reads x twice (mean, then the two-pass
// variance: no cancellation) and writes y once; the backward reads dy and x once for its sums and
// once more for dx = a*dy + b*(x - mean) + c (the old kernels read them three times).
//
// Accuracy and determinism: sums accumulate in double, in SIMD lanes inside a row (`omp simd
// reduction`: a fixed order for a given binary) and in row order across rows, so the result does
// not depend on the thread count. The elementwise maps run in T (float or double).
#pragma once
#include <cstdint>
#include <vector>

namespace normlab::cpu::rows {

template <typename T>
double sum(const T* x, int n) {  // sum x
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i];
  return s;
}

template <typename T>
double sum_sq_dev(const T* x, int n, double mu) {  // sum (x - mu)^2
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += (x[i] - mu) * (x[i] - mu);
  return s;
}

struct DySums {
  double dy = 0;    // sum dy
  double dyxm = 0;  // sum dy * (x - mu)
};

template <typename T>
DySums dy_sums(const T* dy, const T* x, int n, double mu) {
  double s = 0, sx = 0;
#pragma omp simd reduction(+ : s, sx)
  for (int i = 0; i < n; ++i) {
    s += dy[i];
    sx += dy[i] * (x[i] - mu);
  }
  return {s, sx};
}

template <typename T>
void affine(T* y, const T* x, int n, T a, T b) {  // y = a*x + b
#pragma omp simd
  for (int i = 0; i < n; ++i) y[i] = a * x[i] + b;
}

template <typename T>
void affine2(T* dx, const T* dy, const T* x, int n, T a, T b, T mu, T c) {  // dx = a*dy + b*(x - mu) + c
#pragma omp simd
  for (int i = 0; i < n; ++i) dx[i] = a * dy[i] + b * (x[i] - mu) + c;
}

// Which group each row (n, c) of an [N, C, HW] tensor belongs to, and how many values a group has.
struct Groups {
  int N, C, HW;
  int G;  // 0: batch norm, a group per channel; else G groups of C/G channels per sample
  int count() const { return G ? N * G : C; }
  int of(int n, int c) const { return G ? n * G + c / (C / G) : c; }
  int group(int64_t row) const { return of(static_cast<int>(row / C), static_cast<int>(row % C)); }
  double size() const { return static_cast<double>(N) * C * HW / count(); }
};

inline Groups batch_groups(int N, int C, int HW) { return {N, C, HW, 0}; }
inline Groups sample_groups(int N, int C, int HW, int G) { return {N, C, HW, G}; }

// Mean and variance (biased) of every group: two parallel passes over x.
template <typename T>
void group_stats(std::vector<double>& mean, std::vector<double>& var, const T* x, const Groups& g) {
  const int64_t R = static_cast<int64_t>(g.N) * g.C;
  std::vector<double> row(static_cast<std::size_t>(R));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) row[r] = sum(x + r * g.HW, g.HW);
  mean.assign(static_cast<std::size_t>(g.count()), 0.0);
  for (int64_t r = 0; r < R; ++r) mean[g.group(r)] += row[r];
  for (double& m : mean) m /= g.size();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) row[r] = sum_sq_dev(x + r * g.HW, g.HW, mean[g.group(r)]);
  var.assign(static_cast<std::size_t>(g.count()), 0.0);
  for (int64_t r = 0; r < R; ++r) var[g.group(r)] += row[r];
  for (double& v : var) v /= g.size();
}

// sum dy and sum dy*(x - mean) of every row, in parallel; mean is per group.
template <typename T>
std::vector<DySums> row_dy_sums(const T* dy, const T* x, const T* mean, const Groups& g) {
  const int64_t R = static_cast<int64_t>(g.N) * g.C;
  std::vector<DySums> s(static_cast<std::size_t>(R));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) s[r] = dy_sums(dy + r * g.HW, x + r * g.HW, g.HW, double(mean[g.group(r)]));
  return s;
}

// y = a[row]*x + b[row] for every row, in parallel.
template <typename T>
void apply_affine(T* y, const T* x, const std::vector<T>& a, const std::vector<T>& b, int64_t R, int HW) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) affine(y + r * HW, x + r * HW, HW, a[r], b[r]);
}

}  // namespace normlab::cpu::rows
