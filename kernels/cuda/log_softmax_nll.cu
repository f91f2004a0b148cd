// CUDA fused log-softmax + NLL. Forward: one block; each warp takes rows in turn (lanes over the K
// classes), the block sums the row losses in a fixed order and writes the mean. Backward: one thread
// per element. Math: kernels/log_softmax_nll.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/log_softmax_nll.h"

namespace normlab::cuda {
namespace {
__global__ void lsm_fwd(float* logp, float* loss, const float* z, const int32_t* labels, int N, int K) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float total = 0.f;  // meaningful in lane 0 of each warp
  for (int n = warp; n < N; n += warps) {
    const float* zn = z + int64_t(n) * K;
    float m = -INFINITY;
    for (int k = lane; k < K; k += 32) m = fmaxf(m, zn[k]);
    m = warp_max(m);
    float s = 0.f;
    for (int k = lane; k < K; k += 32) s += expf(zn[k] - m);
    const float lse = m + logf(warp_sum(s));
    for (int k = lane; k < K; k += 32) logp[int64_t(n) * K + k] = zn[k] - lse;
    if (lane == 0) total -= zn[labels[n]] - lse;
  }
  total = block_sum(lane == 0 ? total : 0.f);
  if (threadIdx.x == 0) *loss = total / float(N);
}
__global__ void lsm_bwd(float* dz, const float* logp, const int32_t* labels, float scale, int N, int K) {
  NL_GRID_LOOP(i, int64_t(N) * K) {
    const int n = int(i / K), k = int(i % K);
    dz[i] = scale * (expf(logp[i]) - (k == labels[n] ? 1.f : 0.f));
  }
}
}  // namespace

template <>
void log_softmax_nll_forward<float>(float* logp, float* loss, const float* z, const int32_t* labels, int N, int K) {
  NL_LAUNCH(lsm_fwd, 1, kReduceThreads, 0, logp, loss, z, labels, N, K);
}
template <>
void log_softmax_nll_backward<float>(float* dz, const float* logp, const int32_t* labels, float dloss, int N, int K) {
  NL_LAUNCH(lsm_bwd, blocks_for(int64_t(N) * K), kThreads, 0, dz, logp, labels, dloss / float(N), N, K);
}

}  // namespace normlab::cuda
