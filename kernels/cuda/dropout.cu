// CUDA dropout: the same counter-based mask as the CPU (core/rng.h hash_u32), so both backends
// drop exactly the same elements for the same seed. Math: kernels/dropout.h.
#include "core/rng.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/dropout.h"

namespace normlab::cuda {
namespace {
__global__ void masked_scale(float* out, const float* in, int64_t n, double thr, float scale, uint64_t seed) {
  NL_GRID_LOOP(i, n) out[i] = double(hash_u32(seed, uint64_t(i))) >= thr ? in[i] * scale : 0.f;
}
void run(float* out, const float* in, int64_t n, float p, uint64_t seed) {
  NL_LAUNCH(masked_scale, blocks_for(n), kThreads, 0, out, in, n, ldexp(double(p), 32), 1.f / (1.f - p), seed);
}
}  // namespace

template <>
void dropout_forward<float>(float* y, const float* x, int64_t n, float p, uint64_t seed) {
  run(y, x, n, p, seed);
}
template <>
void dropout_backward<float>(float* dx, const float* dy, int64_t n, float p, uint64_t seed) {
  run(dx, dy, n, p, seed);
}

}  // namespace normlab::cuda
