// The per-channel affine gradients shared by group norm and layer norm (per-channel affine, which
// is group norm with G = 1): one block per channel c sums over every sample n and position,
//   dbeta_c += sum dy,   dgamma_c += sum dy * (x - mean[n, g(c)]) * rstd[n, g(c)],
// with mean/rstd laid out [N, G]. No atomics: deterministic.
#pragma once
#include "kernels/cuda/common.cuh"

namespace normlab::cuda {
namespace {
__global__ void channel_affine_grads(float* dgamma, float* dbeta, const float* dy, const float* mean,
                                     const float* rstd, const float* x, int N, int C, int HW, int G) {
  const int c = blockIdx.x, g = c / (C / G);
  const int64_t M = int64_t(N) * HW;
  float sdy = 0.f, sdyx = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int n = int(i / HW);
    const int64_t k = (int64_t(n) * C + c) * HW + i % HW;
    sdy += dy[k];
    sdyx += dy[k] * (x[k] - mean[n * G + g]) * rstd[n * G + g];
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  if (threadIdx.x == 0) {
    dbeta[c] += sdy;
    dgamma[c] += sdyx;
  }
}
}  // namespace
}  // namespace normlab::cuda
