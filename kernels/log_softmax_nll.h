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
