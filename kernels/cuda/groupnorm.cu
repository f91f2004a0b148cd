// CUDA group norm. One block per (sample, group) — a contiguous run of (C/G)*H*W values — for the
// statistics, y and dx; one block per channel for dgamma/dbeta (kernels/cuda/norm_affine.cuh).
// No atomics: deterministic. Math: kernels/groupnorm.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_affine.cuh"
#include "kernels/groupnorm.h"

namespace normlab::cuda {
namespace {
__global__ void gn_fwd(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       int C, int HW, int G, float eps) {
  const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
  const int64_t M = int64_t(Cg) * HW, off = int64_t(ng) * M;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += x[off + i];
  const float mu = block_sum(s) / float(M);
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float d = x[off + i] - mu;
    ss += d * d;
  }
  const float rs = rsqrtf(block_sum(ss) / float(M) + eps);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int c = c0 + int(i / HW);
    y[off + i] = gamma[c] * (x[off + i] - mu) * rs + beta[c];
  }
  if (threadIdx.x == 0) {
    mean[ng] = mu;
    rstd[ng] = rs;
  }
}

__global__ void gn_bwd_dx(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                          const float* gamma, int C, int HW, int G) {
  const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
  const int64_t M = int64_t(Cg) * HW, off = int64_t(ng) * M;
  const float mu = mean[ng], rs = rstd[ng];
  float sg = 0.f, sgx = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float g = dy[off + i] * gamma[c0 + int(i / HW)];
    sg += g;
    sgx += g * (x[off + i] - mu) * rs;
  }
  const float mg = block_sum(sg) / float(M), mgx = block_sum(sgx) / float(M);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float g = dy[off + i] * gamma[c0 + int(i / HW)];
    dx[off + i] = rs * (g - mg - (x[off + i] - mu) * rs * mgx);
  }
}

}  // namespace

template <>
void groupnorm_forward<float>(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                              const float* beta, int N, int C, int HW, int G, float eps) {
  gn_fwd<<<N * G, kReduceThreads>>>(y, mean, rstd, x, gamma, beta, C, HW, G, eps);
  CUDA_LAUNCH_CHECK();
}
template <>
void groupnorm_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                               const float* rstd, const float* x, const float* gamma, int N, int C, int HW, int G) {
  gn_bwd_dx<<<N * G, kReduceThreads>>>(dx, dy, mean, rstd, x, gamma, C, HW, G);
  CUDA_LAUNCH_CHECK();
  channel_affine_grads<<<C, kReduceThreads>>>(dgamma, dbeta, dy, mean, rstd, x, N, C, HW, G);
  CUDA_LAUNCH_CHECK();
}

}  // namespace normlab::cuda
