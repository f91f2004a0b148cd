// CUDA global average pool: one warp per plane (forward), one thread per element (backward).
// Math: kernels/gap.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/gap.h"

namespace normlab::cuda {
namespace {
__global__ void gap_fwd(float* y, const float* x, int P, int HW) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (warp >= P) return;
  float s = 0.f;
  for (int i = lane; i < HW; i += 32) s += x[int64_t(warp) * HW + i];
  s = warp_sum(s);
  if (lane == 0) y[warp] = s / float(HW);
}
__global__ void gap_bwd(float* dx, const float* dy, int P, int HW) {
  NL_GRID_LOOP(i, int64_t(P) * HW) dx[i] = dy[i / HW] / float(HW);
}
}  // namespace

template <>
void gap_forward<float>(float* y, const float* x, int P, int HW) {
  NL_LAUNCH(gap_fwd, blocks_for(int64_t(P) * 32), kThreads, 0, y, x, P, HW);
}
template <>
void gap_backward<float>(float* dx, const float* dy, int P, int HW) {
  NL_LAUNCH(gap_bwd, blocks_for(int64_t(P) * HW), kThreads, 0, dx, dy, P, HW);
}

}  // namespace normlab::cuda
