// CUDA layer norm, in eight versions (kernels/cuda/versions.h). Version 1: one block per sample for
// the statistics, y and dx (kernels/cuda/norm_segment.cuh, shared with group norm). Version 2: each
// sample reduced by several blocks, combined in a fixed order (kernels/cuda/norm_segment_v2.cuh).
// Both: dgamma/dbeta by one block per channel (per-channel affine: group norm's
// kernel with G = 1, kernels/cuda/norm_affine.cuh) or one thread per element summing over the
// samples (per-element affine). Version 3: version 2's forward; with the per-channel affine, the
// backward's sample sums and dgamma/dbeta from one warp-per-(sample, channel) pass (group norm's
// with G = 1, kernels/cuda/norm_planes_v3.cuh); the per-element affine keeps version 2's backward.
// Version 4: version 3 with the activation after the norm fused in (layernorm_act_*;
// kernels/cuda/norm_act_v4.cuh; the per-element affine's backward composes); versions 1-3 compose
// the norm with the activation's own kernels (kernels/cuda/activation.cuh). Version 5: the
// element-wise passes of the plain ops (version 3's) and of the *_act ops (version 4's) on quads of
// four values (float4; kernels/cuda/vec4.cuh); the per-element affine's backward keeps version 2's.
// Version 6: version 5 with each finishing stage folded into the element-wise pass after it, two
// kernels each way (kernels/cuda/norm_finish_v6.cuh); the per-element affine's backward is version
// 5's. Version 7: version 6's blocks in a pipeline of chunks of samples, so that the pass re-reads x
// (and dy) from L2 (kernels/cuda/norm_chunks_v7.cuh); the per-element affine's backward is version
// 5's. Version 8: version 5, but a sample of at most 16,384 values on one block, one launch forward
// and two backward, version 5's bits (kernels/cuda/norm_block_v8.cuh); the per-element affine's
// backward is version 5's. No atomics: deterministic.
// Math: kernels/layernorm.h.
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/cuda/norm_act_v4.cuh"
#include "kernels/cuda/norm_affine.cuh"
#include "kernels/cuda/norm_block_v8.cuh"
#include "kernels/cuda/norm_chunks_v7.cuh"
#include "kernels/cuda/norm_finish_v6.cuh"
#include "kernels/cuda/norm_planes_v3.cuh"
#include "kernels/cuda/norm_segment.cuh"
#include "kernels/cuda/norm_segment_v2.cuh"
#include "kernels/cuda/versions.h"
#include "kernels/layernorm.h"

namespace normlab::cuda {
namespace {
// The affine parameter of value e of a sample: its element (per-element affine) or its channel.
__device__ inline int64_t param_of(int64_t e, int HW, bool per_element) { return per_element ? e : e / HW; }

__global__ void ln_fwd(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       int64_t M, int HW, bool pe, float eps) {
  const int n = blockIdx.x;
  const int64_t off = int64_t(n) * M;
  segment_forward(y + off, mean + n, rstd + n, x + off, gamma, beta, M, eps,
                  [=](int64_t e) { return param_of(e, HW, pe); });
}

__global__ void ln_bwd_dx(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                          const float* gamma, int64_t M, int HW, bool pe) {
  const int n = blockIdx.x;
  const int64_t off = int64_t(n) * M;
  segment_backward_dx(dx + off, dy + off, mean[n], rstd[n], x + off, gamma, M,
                      [=](int64_t e) { return param_of(e, HW, pe); });
}

// Per-element affine: thread e sums over the samples, in order.
__global__ void ln_bwd_element(float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                               const float* x, int N, int64_t M) {
  NL_GRID_LOOP(e, M) {
    float sdy = 0.f, sdyx = 0.f;
    for (int n = 0; n < N; ++n) {
      const int64_t k = int64_t(n) * M + e;
      sdy += dy[k];
      sdyx += dy[k] * (x[k] - mean[n]) * rstd[n];
    }
    dbeta[e] += sdy;
    dgamma[e] += sdyx;
  }
}
}  // namespace

template <>
void layernorm_forward<float>(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                              int N, int C, int HW, bool per_element, float eps) {
  const Segments s = make_segments(N, int64_t(C) * HW, HW, 1, C, per_element);  // a sample; G = 1 group of C channels
  if (kernel_version("layernorm") == 8) return segments_forward_v8(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("layernorm") == 7) return segments_forward_v7(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("layernorm") == 6) return segments_forward_v6(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("layernorm") >= 5)
    return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, nullptr, true);
  if (kernel_version("layernorm") >= 2) return segments_forward_v2(y, mean, rstd, x, gamma, beta, s, eps);
  NL_LAUNCH(ln_fwd, N, kReduceThreads, 0, y, mean, rstd, x, gamma, beta, int64_t(C) * HW, HW, per_element, eps);
}
template <>
void layernorm_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                               const float* rstd, const float* x, const float* gamma, int N, int C, int HW,
                               bool per_element) {
  if (kernel_version("layernorm") == 8 && !per_element)  // G = 1: a sample is the one group; beta read only with act
    return planes_backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, 1, nullptr);
  if (kernel_version("layernorm") == 7 && !per_element)
    return planes_backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, 1, nullptr);
  if (kernel_version("layernorm") == 6 && !per_element)
    return planes_backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, 1, nullptr);
  if (kernel_version("layernorm") >= 5 && !per_element)
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, 1, nullptr, true);
  if (kernel_version("layernorm") >= 3 && !per_element)
    return planes_backward_v3(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, N, C, HW, 1);
  const int64_t M = int64_t(C) * HW;
  if (kernel_version("layernorm") >= 2)
    segments_backward_dx_v2(dx, dy, mean, rstd, x, gamma, make_segments(N, M, HW, 1, C, per_element));
  else
    NL_LAUNCH(ln_bwd_dx, N, kReduceThreads, 0, dx, dy, mean, rstd, x, gamma, M, HW, per_element);
  if (per_element)
    NL_LAUNCH(ln_bwd_element, blocks_for(M), kThreads, 0, dgamma, dbeta, dy, mean, rstd, x, N, M);
  else
    NL_LAUNCH(channel_affine_grads, C, kReduceThreads, 0, dgamma, dbeta, dy, mean, rstd, x, N, C, HW, 1);  // G = 1
}

template <>
void layernorm_act_forward<float>(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                                  const float* beta, int N, int C, int HW, bool per_element, float eps,
                                  Activation<float> act) {
  const Segments s = make_segments(N, int64_t(C) * HW, HW, 1, C, per_element);  // a sample; G = 1 group of C
  if (kernel_version("layernorm") == 8) return segments_forward_v8(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("layernorm") == 7) return segments_forward_v7(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("layernorm") == 6) return segments_forward_v6(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("layernorm") >= 4)
    return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, &act, kernel_version("layernorm") >= 5);
  layernorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, per_element, eps);
  activation_forward_inplace(y, int64_t(N) * C * HW, act);
}
template <>
void layernorm_act_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                                   const float* rstd, const float* y, const float* x, const float* gamma,
                                   const float* beta, int N, int C, int HW, bool per_element, Activation<float> act) {
  if (kernel_version("layernorm") == 8 && !per_element)
    return planes_backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, 1, &act);
  if (kernel_version("layernorm") == 7 && !per_element)
    return planes_backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, 1, &act);
  if (kernel_version("layernorm") == 6 && !per_element)
    return planes_backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, 1, &act);
  if (kernel_version("layernorm") >= 4 && !per_element)
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, 1, &act,
                               kernel_version("layernorm") >= 5);
  float* scratch;
  const float* dz = activation_backward(scratch, dy, y, int64_t(N) * C * HW, act);
  layernorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW, per_element);
  release_scratch(scratch);
}

}  // namespace normlab::cuda
