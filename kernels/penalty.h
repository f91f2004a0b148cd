// penalty: L1 and L2 regularisation of a weight tensor.
//   forward   value += l1 * sum_i |w_i| + (l2 / 2) * sum_i w_i^2
//   backward  dw_i  += l1 * sign(w_i) + l2 * w_i         (sign(0) = 0)
// With l2 = weight_decay this is exactly SGD's classic weight decay (gradient wd * w).
// Shapes: w, dw [n]; value scalar. Outputs: value and dw ACCUMULATED.
//
// penalty_forward_segments: the same value for each of P consecutive segments of one buffer,
// value[p] += l1 * sum_{i in segment p} |w_i| + (l2 / 2) * sum w_i^2, segment p = [begin[p],
// begin[p+1]) — the optimizer's terms (one per convolution weight, all at the front of its flat
// buffer, layers/optim.h) in one launch (CUDA: one block per segment) instead of P. Each segment
// is summed exactly as penalty_forward sums a tensor of its length, so the terms are the same bits.
// Preconditions: 0 <= count <= kMaxPenaltySegments, begin non-decreasing. Outputs: value ACCUMULATED.
#pragma once
#include <cstdint>
#include <vector>

#include "core/host_device.h"
#include "core/tensor.h"
#include "kernels/backends.h"

namespace normlab {
// The penalty's gradient for one weight, l1 * sign(w) + l2 * w (sign(0) = 0): penalty_backward adds
// it to dw, and sgd_step (kernels/sgd.h) fuses it into the step. Both backends call this one.
template <typename T>
NL_HOST_DEVICE inline T penalty_grad(T w, T l1, T l2) {
  const T s = w > T(0) ? T(1) : (w < T(0) ? T(-1) : T(0));
  return l1 * s + l2 * w;
}

// Segments of one buffer, passed by value to a kernel (272 bytes); the dispatcher cuts a longer
// list into launches of at most kMaxPenaltySegments.
constexpr int kMaxPenaltySegments = 32;
struct PenaltySegments {
  int count;                                   // segments, 0..kMaxPenaltySegments
  int64_t begin[kMaxPenaltySegments + 1];      // segment p is [begin[p], begin[p+1])
};
}  // namespace normlab

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void penalty_forward(T* value, const T* w, int64_t n, T l1, T l2);
template <typename T> void penalty_backward(T* dw, const T* w, int64_t n, T l1, T l2);
template <typename T> void penalty_forward_segments(T* value, const T* w, const PenaltySegments& seg, T l1, T l2);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// value[slot] += l1*sum|w| + l2/2*sum w^2 (value: 1-d, w's device and dtype); backward adds
// l1*sign(w) + l2*w to dw.
void penalty_forward(Tensor& value, int64_t slot, const Tensor& w, double l1, double l2);
void penalty_backward(Tensor& dw, const Tensor& w, double l1, double l2);
// value[p] += l1*sum|w| + l2/2*sum w^2 over w's elements [begin[p], begin[p+1]), for p < begin.size()-1
// (value: 1-d with at least that many slots; w: 1-d, its device and dtype; begin non-decreasing, within w).
void penalty_forward_segments(Tensor& value, const Tensor& w, const std::vector<int64_t>& begin, double l1, double l2);
}  // namespace normlab::ops
