// metrics: the running sums an epoch reports (loss and correct predictions), kept on the device
// that holds the batch, so a CUDA training epoch never waits for the GPU until it reads them at
// the end.
//   acc[0] += (loss + sum_{p<P} penalty[p]) * N         (in double, penalty terms summed in order)
//   acc[1] += #{ n : argmax_k logp[n,k] == labels[n] }  (the first maximum wins a tie)
// loss is the batch's mean NLL (log_softmax_nll_forward), penalty the P regularisation terms of
// the optimizer (P = 0: none; penalty may then be null).
// Shapes: logp [N, K]; labels [N] (int32); loss scalar; penalty [P]; acc double [2].
// Outputs: acc ACCUMULATED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void metrics_accumulate(double* acc, const T* logp, const T* loss, const T* penalty, int P, const int32_t* labels,
                        int N, int K);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// acc f64 [2] += {(loss + sum penalty) * N, correct predictions}; logp [N,K], loss [1],
// penalty [P] or undefined, labels [N]; all on one device (kernels/metrics.h).
void metrics_accumulate(Tensor& acc, const Tensor& logp, const Tensor& loss, const Tensor& penalty,
                        const Tensor& labels);
}  // namespace normlab::ops
