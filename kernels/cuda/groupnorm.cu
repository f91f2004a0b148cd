// CUDA group norm, in eight versions (kernels/cuda/versions.h). Version 1: one block per (sample,
// group) — a contiguous run of (C/G)*H*W values — for the statistics, y and dx
// (kernels/cuda/norm_segment.cuh, shared with layer norm). Version 2: the same segments, each
// reduced by several blocks and combined in a fixed order (kernels/cuda/norm_segment_v2.cuh).
// Both: one block per channel for dgamma/dbeta (kernels/cuda/norm_affine.cuh). Version 3: version
// 2's forward; the backward's segment sums and dgamma/dbeta from one warp-per-(sample, channel)
// pass (kernels/cuda/norm_planes_v3.cuh). Version 4: version 3 with the activation after the norm
// fused in (groupnorm_act_*; kernels/cuda/norm_act_v4.cuh); versions 1-3 compose the norm with the
// activation's own kernels (kernels/cuda/activation.cuh). Version 5: the element-wise passes of
// the plain ops (version 3's) and of the *_act ops (version 4's) on quads of four values (float4;
// kernels/cuda/vec4.cuh). Version 6: version 5 with each finishing stage folded into the
// element-wise pass after it, two kernels each way (kernels/cuda/norm_finish_v6.cuh). Version 7:
// version 6's blocks in a pipeline of chunks of segments, so that the pass re-reads x (and dy) from
// L2 (kernels/cuda/norm_chunks_v7.cuh). Version 8: version 5, but a segment of at most 16,384 values on
// one block, one launch forward and two backward, version 5's bits (kernels/cuda/norm_block_v8.cuh).
// No atomics: deterministic.
// Math: kernels/groupnorm.h.
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_act_v4.cuh"
#include "kernels/cuda/norm_affine.cuh"
#include "kernels/cuda/norm_block_v8.cuh"
#include "kernels/cuda/norm_chunks_v7.cuh"
#include "kernels/cuda/norm_finish_v6.cuh"
#include "kernels/cuda/norm_planes_v3.cuh"
#include "kernels/cuda/norm_segment.cuh"
#include "kernels/cuda/norm_segment_v2.cuh"
#include "kernels/cuda/versions.h"
#include "kernels/groupnorm.h"

namespace normlab::cuda {
namespace {
// Block ng = (sample n, group g) owns the contiguous run of its Cg channels; channel c0 + i / HW.
__global__ void gn_fwd(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta, int C,
                       int HW, int G, float eps) {
  const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
  const int64_t M = int64_t(Cg) * HW, off = int64_t(ng) * M;
  segment_forward(y + off, mean + ng, rstd + ng, x + off, gamma, beta, M, eps,
                  [=](int64_t i) { return int64_t(c0) + i / HW; });
}

__global__ void gn_bwd_dx(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                          const float* gamma, int C, int HW, int G) {
  const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
  const int64_t M = int64_t(Cg) * HW, off = int64_t(ng) * M;
  segment_backward_dx(dx + off, dy + off, mean[ng], rstd[ng], x + off, gamma, M,
                      [=](int64_t i) { return int64_t(c0) + i / HW; });
}

}  // namespace

template <>
void groupnorm_forward<float>(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                              int N, int C, int HW, int G, float eps) {
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  if (kernel_version("groupnorm") == 8) return segments_forward_v8(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("groupnorm") == 7) return segments_forward_v7(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("groupnorm") == 6) return segments_forward_v6(y, mean, rstd, x, gamma, beta, s, eps, nullptr);
  if (kernel_version("groupnorm") >= 5)
    return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, nullptr, true);
  if (kernel_version("groupnorm") >= 2) return segments_forward_v2(y, mean, rstd, x, gamma, beta, s, eps);
  NL_LAUNCH(gn_fwd, N * G, kReduceThreads, 0, y, mean, rstd, x, gamma, beta, C, HW, G, eps);
}
template <>
void groupnorm_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                               const float* rstd, const float* x, const float* gamma, int N, int C, int HW, int G) {
  if (kernel_version("groupnorm") == 8)  // beta is read only with an activation
    return planes_backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, G, nullptr);
  if (kernel_version("groupnorm") == 7)
    return planes_backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, G, nullptr);
  if (kernel_version("groupnorm") == 6)
    return planes_backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, G, nullptr);
  if (kernel_version("groupnorm") >= 5)
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, G, nullptr, true);
  if (kernel_version("groupnorm") >= 3)
    return planes_backward_v3(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, N, C, HW, G);
  if (kernel_version("groupnorm") >= 2)
    segments_backward_dx_v2(dx, dy, mean, rstd, x, gamma,
                            make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false));
  else
    NL_LAUNCH(gn_bwd_dx, N * G, kReduceThreads, 0, dx, dy, mean, rstd, x, gamma, C, HW, G);
  NL_LAUNCH(channel_affine_grads, C, kReduceThreads, 0, dgamma, dbeta, dy, mean, rstd, x, N, C, HW, G);
}

template <>
void groupnorm_act_forward<float>(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                                  const float* beta, int N, int C, int HW, int G, float eps, Activation<float> act) {
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  if (kernel_version("groupnorm") == 8) return segments_forward_v8(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("groupnorm") == 7) return segments_forward_v7(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("groupnorm") == 6) return segments_forward_v6(y, mean, rstd, x, gamma, beta, s, eps, &act);
  if (kernel_version("groupnorm") >= 4)
    return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, &act, kernel_version("groupnorm") >= 5);
  groupnorm_forward(y, mean, rstd, x, gamma, beta, N, C, HW, G, eps);
  activation_forward_inplace(y, int64_t(N) * C * HW, act);
}
template <>
void groupnorm_act_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                                   const float* rstd, const float* y, const float* x, const float* gamma,
                                   const float* beta, int N, int C, int HW, int G, Activation<float> act) {
  if (kernel_version("groupnorm") == 8)
    return planes_backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, &act);
  if (kernel_version("groupnorm") == 7)
    return planes_backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, &act);
  if (kernel_version("groupnorm") == 6)
    return planes_backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, &act);
  if (kernel_version("groupnorm") >= 4)
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, &act,
                               kernel_version("groupnorm") >= 5);
  float* scratch;
  const float* dz = activation_backward(scratch, dy, y, int64_t(N) * C * HW, act);
  groupnorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW, G);
  release_scratch(scratch);
}

}  // namespace normlab::cuda
