// gather: assembling a mini-batch from the dataset where it lives (host memory for the CPU path,
// GPU memory for the CUDA path, which uploads the dataset once), in the epoch's shuffled order.
//   y[b, :]      = x[idx[b], :]          for b in 0..B-1, rows of `row` values
//   y_labels[b]  = labels[idx[b]]
// Shapes: x [M, row]; labels [M] (int32); idx [B] (int32, each in 0..M-1); y [B, row]; y_labels [B].
// Preconditions: idx in range (the loader builds it as a permutation). Outputs: y, y_labels ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void gather_rows(T* y, int32_t* y_labels, const T* x, const int32_t* labels, const int32_t* idx, int B, int row);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// y [B,...] = rows idx[b] of x [M,...]; y_labels [B] = labels[idx] (labels, idx: i32).
void gather_rows(Tensor& y, Tensor& y_labels, const Tensor& x, const Tensor& labels, const Tensor& idx);
}  // namespace normlab::ops
