// log_softmax_nll: fused, numerically stable log-softmax + negative log-likelihood (cross-entropy).
//
// Forward   m_n = max_k z[n,k]
//           logp[n,k] = z[n,k] - m_n - log(sum_j exp(z[n,j] - m_n))       (never overflows)
//           loss = -(1/N) sum_n logp[n, label_n]                             (mean over the batch)
// Backward  dz[n,k] = dloss / N * (exp(logp[n,k]) - [k == label_n])
//
// Shapes: z, logp, dz [N, K]; labels [N] (int32 in 0..K-1); loss, dloss scalars.
// Preconditions: N >= 1, K >= 1, labels in range (checked by the dispatcher).
// Outputs: logp, loss, dz ASSIGNED.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backends.h"

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T>
void log_softmax_nll_forward(T* logp, T* loss, const T* z, const int32_t* labels, int N, int K);
template <typename T>
void log_softmax_nll_backward(T* dz, const T* logp, const int32_t* labels, T dloss, int N, int K);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// z, logp [N,K]; labels i32 [N]; loss [1] receives the mean loss (stays on the device).
void log_softmax_nll_forward(Tensor& logp, Tensor& loss, const Tensor& z, const Tensor& labels);
void log_softmax_nll_backward(Tensor& dz, const Tensor& logp, const Tensor& labels, double dloss);
}  // namespace normlab::ops
