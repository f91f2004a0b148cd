// The per-block normalization shared by group norm and layer norm: one block normalizes one
// contiguous segment of M values — a (sample, group) for GN, a sample for LN — whose affine
// parameter for value i is gamma[param(i)] / beta[param(i)] (a channel, or an element for LN's
// per-element affine). The caller offsets x, y, dy, dx to the segment.
//   forward:  mu = mean(x), rs = 1/sqrt(var(x) + eps), y = gamma * (x - mu) * rs + beta
//   dx:       g = dy * gamma, dx = rs * (g - mean(g) - xhat * mean(g * xhat)), xhat = (x - mu) * rs
// Every thread of the block must call these (they use block_sum). No atomics: deterministic.
#pragma once
#include "kernels/cuda/common.cuh"

namespace normlab::cuda {

template <typename Param>
__device__ void segment_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                                const float* beta, int64_t M, float eps, Param param) {
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += x[i];
  const float mu = block_sum(s) / float(M);
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float d = x[i] - mu;
    ss += d * d;
  }
  const float rs = rsqrtf(block_sum(ss) / float(M) + eps);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t p = param(i);
    y[i] = gamma[p] * (x[i] - mu) * rs + beta[p];
  }
  if (threadIdx.x == 0) {
    *mean = mu;
    *rstd = rs;
  }
}

template <typename Param>
__device__ void segment_backward_dx(float* dx, const float* dy, float mu, float rs, const float* x, const float* gamma,
                                    int64_t M, Param param) {
  float sg = 0.f, sgx = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float g = dy[i] * gamma[param(i)];
    sg += g;
    sgx += g * (x[i] - mu) * rs;
  }
  const float mg = block_sum(sg) / float(M), mgx = block_sum(sgx) / float(M);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float g = dy[i] * gamma[param(i)];
    dx[i] = rs * (g - mg - (x[i] - mu) * rs * mgx);
  }
}

}  // namespace normlab::cuda
