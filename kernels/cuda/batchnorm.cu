// CUDA batch norm. One block per channel reduces over (N, H, W) with block_sum (two passes: mean,
// then the centred variance), normalizes its channel and updates the running statistics; the
// backward pass likewise, one block per channel, so dgamma/dbeta need no atomics and every result is
// deterministic. Math: kernels/batchnorm.h.
#include "kernels/batchnorm.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"

namespace normlab::cuda {
namespace {
__device__ inline int64_t bn_index(int64_t i, int c, int C, int HW) {  // i-th value of channel c
  return (i / HW * C + c) * HW + i % HW;
}

__global__ void bn_train(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x,
                         const float* gamma, const float* beta, int N, int C, int HW, float eps, float momentum) {
  const int c = blockIdx.x;
  const int64_t M = int64_t(N) * HW;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += x[bn_index(i, c, C, HW)];
  const float mu = block_sum(s) / float(M);
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float d = x[bn_index(i, c, C, HW)] - mu;
    ss += d * d;
  }
  const float var = block_sum(ss) / float(M);
  const float rs = rsqrtf(var + eps);
  const float a = gamma[c] * rs, b = beta[c] - gamma[c] * mu * rs;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    y[k] = a * x[k] + b;
  }
  if (threadIdx.x == 0) {
    mean[c] = mu;
    rstd[c] = rs;
    const float unbiased = M > 1 ? var * float(M) / float(M - 1) : var;
    rmean[c] = (1 - momentum) * rmean[c] + momentum * mu;
    rvar[c] = (1 - momentum) * rvar[c] + momentum * unbiased;
  }
}

__global__ void bn_eval(float* y, const float* x, const float* gamma, const float* beta, const float* rmean,
                        const float* rvar, int N, int C, int HW, float eps) {
  NL_GRID_LOOP(k, int64_t(N) * C * HW) {
    const int c = int(k / HW % C);
    const float rs = rsqrtf(rvar[c] + eps);
    y[k] = gamma[c] * rs * (x[k] - rmean[c]) + beta[c];
  }
}

__global__ void bn_bwd(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                       const float* x, const float* gamma, int N, int C, int HW) {
  const int c = blockIdx.x;
  const int64_t M = int64_t(N) * HW;
  const float mu = mean[c], rs = rstd[c];
  float sdy = 0.f, sdyx = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    sdy += dy[k];
    sdyx += dy[k] * (x[k] - mu) * rs;
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  const float f = gamma[c] * rs / float(M);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    dx[k] = f * (float(M) * dy[k] - sdy - (x[k] - mu) * rs * sdyx);
  }
  if (threadIdx.x == 0) {
    dbeta[c] += sdy;
    dgamma[c] += sdyx;
  }
}
}  // namespace

template <>
void batchnorm_forward_train<float>(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                                    const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                                    float eps, float momentum) {
  NL_LAUNCH(bn_train, C, kReduceThreads, 0, y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum);
}
template <>
void batchnorm_forward_eval<float>(float* y, const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int N, int C, int HW,
                                   float eps) {
  NL_LAUNCH(bn_eval, blocks_for(int64_t(N) * C * HW), kThreads, 0, y, x, gamma, beta, running_mean, running_var, N, C, HW, eps);
}
template <>
void batchnorm_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                               const float* rstd, const float* x, const float* gamma, int N, int C, int HW) {
  NL_LAUNCH(bn_bwd, C, kReduceThreads, 0, dx, dgamma, dbeta, dy, mean, rstd, x, gamma, N, C, HW);
}

}  // namespace normlab::cuda
