// CUDA epoch metrics: one block; each warp takes rows in turn (lanes over the K classes) for the
// argmax, the block sums the correct counts in a fixed order, thread 0 adds to the double sums.
// Math: kernels/metrics.h.
#include "kernels/cuda/common.cuh"
#include "kernels/metrics.h"

namespace normlab::cuda {
namespace {
__global__ void metrics_k(double* acc, const float* logp, const float* loss, const float* penalty, int P,
                          const int32_t* labels, int N, int K) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  int correct = 0;  // meaningful in lane 0 of each warp
  for (int n = warp; n < N; n += warps) {
    const float* row = logp + int64_t(n) * K;
    float best = -INFINITY;
    int arg = K;  // K: nothing seen yet
    for (int k = lane; k < K; k += 32)
      if (row[k] > best) best = row[k], arg = k;
    // Lowest index among the lanes holding the maximum: the first maximum, as on the CPU.
    for (int o = 16; o > 0; o >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, o);
      const int oa = __shfl_xor_sync(0xffffffffu, arg, o);
      if (ob > best || (ob == best && oa < arg)) best = ob, arg = oa;
    }
    if (lane == 0) correct += arg == labels[n];
  }
  const int total = block_sum(lane == 0 ? correct : 0);
  if (threadIdx.x == 0) {
    double pen = 0;
    for (int p = 0; p < P; ++p) pen += double(penalty[p]);
    acc[0] += (double(*loss) + pen) * double(N);
    acc[1] += double(total);
  }
}
}  // namespace

template <>
void metrics_accumulate<float>(double* acc, const float* logp, const float* loss, const float* penalty, int P,
                               const int32_t* labels, int N, int K) {
  NL_LAUNCH(metrics_k, 1, kReduceThreads, 0, acc, logp, loss, penalty, P, labels, N, K);
}

}  // namespace normlab::cuda
