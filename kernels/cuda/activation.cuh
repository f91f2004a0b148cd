// The CUDA side of a normalization with an activation (kernels/activation.h), two ways:
//   composed (versions 1-3 of each norm): the norm's kernels, then relu_forward / relu_dropout_forward
//     in place on y; backward, relu_backward / relu_dropout_backward from y into a scratch buffer,
//     then the norm's backward kernels on it — one more pass over the tensor each way;
//   fused (version 4): the norm's element-wise pass writes act(z) itself, and its backward passes
//     take dz = dy * act'(z) with z recomputed from x and the saved statistics by the expression
//     the forward used (act_apply / act_grad below), so y is neither re-read nor re-written.
// Both drop the elements relu_dropout_forward drops (the same hash of (seed, i), i the flat index).
#pragma once
#include <cmath>

#include "core/device.h"
#include "core/rng.h"
#include "kernels/activation.h"
#include "kernels/cuda/common.cuh"
#include "kernels/dropout.h"
#include "kernels/relu.h"

namespace normlab::cuda {

// ---- composed ------------------------------------------------------------------------------
inline void activation_forward_inplace(float* y, int64_t n, const Activation<float>& a) {
  if (!a.relu) return;
  if (a.p > 0.f)
    relu_dropout_forward(y, y, n, a.p, a.seed);
  else
    relu_forward(y, y, n);
}

// dz = dy * act'(z), the mask read from y, into a block of the caching allocator that the caller
// releases (release_scratch); dy itself without an activation.
inline const float* activation_backward(float*& scratch, const float* dy, const float* y, int64_t n,
                                        const Activation<float>& a) {
  scratch = nullptr;
  if (!a.relu) return dy;
  scratch = static_cast<float*>(cuda_alloc(sizeof(float) * std::size_t(n)));
  if (a.p > 0.f)
    relu_dropout_backward(scratch, dy, y, n, a.p);
  else
    relu_backward(scratch, dy, y, n);
  return scratch;
}
inline void release_scratch(float* scratch) {
  if (scratch) cuda_release(scratch);  // stream order: a later kernel that reuses it runs after these
}

// ---- fused ---------------------------------------------------------------------------------
// The activation as a fused kernel takes it: kept when hash >= thr = p * 2^32 (dropout.cu's test).
struct ActK {
  bool relu, drop;
  double thr;
  float scale;
  DropoutSeed seed;
};
inline ActK act_k(const Activation<float>& a) {
  return {a.relu, a.p > 0.f, std::ldexp(double(a.p), 32), 1.f / (1.f - a.p), a.seed};
}

// The seed of this launch (reads the step counter, if any: once per thread, not per element).
__device__ inline uint64_t act_seed(const ActK& a) { return a.drop ? a.seed.value() : 0; }

__device__ inline bool act_kept(const ActK& a, uint64_t seed, int64_t i) {
  return !a.drop || double(hash_u32(seed, uint64_t(i))) >= a.thr;
}

// y_i = act(z_i): relu_dropout_forward's / relu_forward's expression.
__device__ inline float act_apply(const ActK& a, uint64_t seed, int64_t i, float z) {
  if (!a.relu) return z;
  const float v = z > 0.f ? z : 0.f;
  if (!a.drop) return v;
  return act_kept(a, seed, i) ? v * a.scale : 0.f;
}

// dz_i = dy_i * act'(z_i): relu_dropout_backward's / relu_backward's, with [y_i > 0] = [z_i > 0 and kept].
__device__ inline float act_grad(const ActK& a, uint64_t seed, int64_t i, float z, float dy) {
  if (!a.relu) return dy;
  if (!(z > 0.f) || !act_kept(a, seed, i)) return 0.f;
  return a.drop ? dy * a.scale : dy;
}

}  // namespace normlab::cuda
