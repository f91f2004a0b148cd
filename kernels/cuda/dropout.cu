// CUDA dropout: the same counter-based mask as the CPU (core/rng.h hash_u32), so both backends
// drop exactly the same elements for the same seed. Math: kernels/dropout.h.
#include "core/rng.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/dropout.h"

namespace normlab::cuda {
namespace {
// out = in * scale where kept, else 0; with kRelu, max(in, 0) * scale (relu_dropout_forward).
template <bool kRelu>
__global__ void masked_scale(float* out, const float* in, int64_t n, double thr, float scale, DropoutSeed mask) {
  const uint64_t seed = mask.value();
  NL_GRID_LOOP(i, n) {
    const float v = kRelu ? (in[i] > 0.f ? in[i] : 0.f) : in[i];
    out[i] = double(hash_u32(seed, uint64_t(i))) >= thr ? v * scale : 0.f;
  }
}
// dx = dy * scale where y > 0, else 0 (relu_dropout_backward: no mask recomputed).
__global__ void relu_masked_scale_bwd(float* dx, const float* dy, const float* y, int64_t n, float scale) {
  NL_GRID_LOOP(i, n) dx[i] = y[i] > 0.f ? dy[i] * scale : 0.f;
}
template <bool kRelu>
void run(float* out, const float* in, int64_t n, float p, DropoutSeed seed) {
  NL_LAUNCH(masked_scale<kRelu>, blocks_for(n), kThreads, 0, out, in, n, ldexp(double(p), 32), 1.f / (1.f - p), seed);
}
}  // namespace

template <>
void dropout_forward<float>(float* y, const float* x, int64_t n, float p, DropoutSeed seed) {
  run<false>(y, x, n, p, seed);
}
template <>
void dropout_backward<float>(float* dx, const float* dy, int64_t n, float p, DropoutSeed seed) {
  run<false>(dx, dy, n, p, seed);
}
template <>
void relu_dropout_forward<float>(float* y, const float* x, int64_t n, float p, DropoutSeed seed) {
  run<true>(y, x, n, p, seed);
}
template <>
void relu_dropout_backward<float>(float* dx, const float* dy, const float* y, int64_t n, float p) {
  NL_LAUNCH(relu_masked_scale_bwd, blocks_for(n), kThreads, 0, dx, dy, y, n, 1.f / (1.f - p));
}

}  // namespace normlab::cuda
