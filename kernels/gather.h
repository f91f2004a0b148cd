// gather: assembling a mini-batch from the dataset where it lives (host memory for the CPU path,
// GPU memory for the CUDA path, which uploads the dataset once), in the epoch's shuffled order.
//   y[i, :]      = x[idx[o + i], :]      for i in 0..B-1, rows of `row` values
//   y_labels[i]  = labels[idx[o + i]]
// o = 0, or with a step counter (kernels/step.h) o = b * batch: idx is then the whole epoch's order
// and the batch's place in it is read from memory, so that a CUDA Graph replays the next batch.
// Shapes: x [M, row]; labels [M] (int32); idx [B] (int32, each in 0..M-1), with a counter [>= o + B];
// y [B, row]; y_labels [B]. Preconditions: idx in range (the loader builds it as a permutation),
// o + B <= idx's length (the loader's batches). Outputs: y, y_labels ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void gather_rows(T* y, int32_t* y_labels, const T* x, const int32_t* labels, const int32_t* idx, const int32_t* step,
                 int64_t batch, int B, int row);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// y [B,...] = rows idx[o + i] of x [M,...]; y_labels [B] = labels[idx[o + i]] (labels, idx: i32);
// o = 0, or b * batch with a step counter (i32 [2] on x's device).
void gather_rows(Tensor& y, Tensor& y_labels, const Tensor& x, const Tensor& labels, const Tensor& idx,
                 const Tensor& step = Tensor(), int64_t batch = 0);
}  // namespace normlab::ops
