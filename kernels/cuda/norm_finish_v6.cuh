// Version 6 of group norm and layer norm (kernels/cuda/versions.h): version 5 with each finishing
// stage folded into the element-wise pass after it, as batch norm's version 7. Math:
// kernels/groupnorm.h (layer norm is G = 1 group of C channels).
//
// Version 5 runs three kernels each way, and the middle one, one thread per segment (and per
// channel), does almost nothing but make the element-wise pass wait for another launch:
//   forward:  seg_stats_partial (chunks' mean, M2) -> seg_stats_finish (mean, rstd) -> seg_apply_v5;
//   backward: plane_sums (s_dy, s_dyx per plane) -> plane_finish (segment means; dgamma, dbeta)
//             -> seg_bwd_dx_v5.
// Here the element-wise pass finishes what it needs itself. Its blocks cover contiguous ranges of
// quads (one quad per thread, a grid of exactly the quads), so block b touches the few segments
// seg0 .. seg1 of its quads (at most one per thread); its threads first work out those segments'
// values with version 5's own code, one thread per segment in version 5's order —
//   forward:  seg_stat (norm_segment_v2.cuh): mean and rstd from the segment's chunks;
//   backward: plane_segment_means (norm_planes_v3.cuh): mean(g), mean(g * xhat) from its planes —
// into shared memory, then run version 5's per-quad body (seg_apply_quad, seg_bwd_dx_quad,
// norm_act_v4.cuh) from there. So every value is version 5's, bit for bit. The block that holds a
// segment's first quad writes its mean and rstd (the forward's outputs); in the backward block 0
// also adds dgamma and dbeta, one thread per channel (plane_channel_grads, as version 5). Two
// kernels each way instead of three; a segment's partials (at most a few hundred floats) are read
// by each of its blocks, from L2.
// It needs version 5's quads (HW % 4 == 0, aligned pointers, under 2^31 values); elsewhere, and for
// layer norm's per-element affine backward, version 6 runs version 5 (and so its fallbacks).
// No atomics: deterministic.
#pragma once
#include "core/device.h"
#include "kernels/cuda/norm_act_v4.cuh"

namespace normlab::cuda {
namespace {
// Block `block` of a pass over quads [qa, qb) takes quads [q0, q0 + blockDim.x) ∩ [qa, qb), which
// lie in segments seg0 .. seg0 + count - 1 (M4 quads a segment). Version 6's pass is one over all
// n4 quads; version 7's (norm_chunks_v7.cuh) one over a chunk of whole segments.
struct BlockSegs {
  unsigned q0, q1, seg0, count;
};
__device__ inline BlockSegs block_segs(unsigned qa, unsigned qb, unsigned block, unsigned M4) {
  const unsigned q0 = qa + block * blockDim.x, q1 = q0 + blockDim.x < qb ? q0 + blockDim.x : qb;
  return {q0, q1, q0 / M4, (q1 - 1) / M4 - q0 / M4 + 1};
}

// One block of the forward's pass: its segments' mean and rstd by seg_stat, then its quads. Every
// thread of the block must call it (a barrier inside).
template <bool kAct>
__device__ inline void seg_apply_finish_block(float* y, float* mean, float* rstd, const float* x, const float* part,
                                              const float* gamma, const float* beta, const Segments& s, unsigned M4,
                                              const BlockSegs& b, float eps, const ActK& act) {
  NL_SHARED(float, smu, kThreads);  // launched with kThreads threads: at most kThreads segments
  NL_SHARED(float, srs, kThreads);
  for (unsigned i = threadIdx.x; i < b.count; i += blockDim.x) {
    const unsigned seg = b.seg0 + i;
    const SegStat st = seg_stat(part, s, seg, eps);
    smu[i] = st.mean;
    srs[i] = st.rstd;
    if (seg * M4 >= b.q0) {  // the segment's first quad is this block's
      mean[seg] = st.mean;
      rstd[seg] = st.rstd;
    }
  }
  __syncthreads();
  const unsigned q = b.q0 + threadIdx.x;
  if (q < b.q1) {
    const QuadAt at = quad_at(s, q, M4);
    seg_apply_quad<kAct>(y, x, smu[at.seg - b.seg0], srs[at.seg - b.seg0], gamma, beta, s, at, q, act,
                         kAct ? act_seed(act) : 0);
  }
}

template <bool kAct>
__global__ void seg_apply_finish_v6(float* y, float* mean, float* rstd, const float* x, const float* part,
                                    const float* gamma, const float* beta, Segments s, unsigned M4, unsigned n4,
                                    float eps, ActK act) {
  seg_apply_finish_block<kAct>(y, mean, rstd, x, part, gamma, beta, s, M4, block_segs(0, n4, blockIdx.x, M4), eps,
                               act);
}

// One block of the backward's pass: its segments' mean(g), mean(g * xhat) by plane_segment_means,
// then its quads; with channel_grads also every channel's dgamma, dbeta (one thread a channel, all N
// samples' planes: their sums must all be written). Every thread of the block must call it.
template <bool kAct>
__device__ inline void seg_bwd_dx_finish_block(float* dx, float* dgamma, float* dbeta, const float* dy,
                                               const float* mean, const float* rstd, const float* x,
                                               const float* gamma, const float* beta, const float* part,
                                               const Segments& s, int N, int C, unsigned M4, const BlockSegs& b,
                                               bool channel_grads, const ActK& act) {
  NL_SHARED(float, sm, 2 * kThreads);  // mean(g), mean(g * xhat) of the block's segments
  if (channel_grads)
    for (int c = int(threadIdx.x); c < C; c += int(blockDim.x)) plane_channel_grads(dgamma, dbeta, part, N, C, c);
  for (unsigned i = threadIdx.x; i < b.count; i += blockDim.x)
    plane_segment_means(sm + 2 * i, part, gamma, C, s.HW, s.G, int64_t(b.seg0 + i));
  __syncthreads();
  const unsigned q = b.q0 + threadIdx.x;
  if (q < b.q1) {
    const QuadAt at = quad_at(s, q, M4);
    const unsigned i = at.seg - b.seg0;
    seg_bwd_dx_quad<kAct>(dx, dy, mean[at.seg], rstd[at.seg], x, gamma, beta, sm[2 * i], sm[2 * i + 1], s, at, q, act,
                          kAct ? act_seed(act) : 0);
  }
}

template <bool kAct>
__global__ void seg_bwd_dx_finish_v6(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                                     const float* rstd, const float* x, const float* gamma, const float* beta,
                                     const float* part, Segments s, int N, int C, unsigned M4, unsigned n4,
                                     ActK act) {
  seg_bwd_dx_finish_block<kAct>(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, part, s, N, C, M4,
                                block_segs(0, n4, blockIdx.x, M4), blockIdx.x == 0, act);
}

// Host side. act: the *_act op's activation, or nullptr for the plain op.
// The forward: y, mean, rstd ASSIGNED.
void segments_forward_v6(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const Segments& s, float eps, const Activation<float>* act) {
  const int64_t n = int64_t(s.nseg) * s.M;
  if (!vec4_ok(n, s.HW, y, x)) return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, act, true);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(s.nseg) * s.R));
  NL_LAUNCH(seg_stats_partial, dim3(s.nseg, s.R), kThreads, 0, part, x, s);
  const unsigned M4 = unsigned(s.M / kVec), n4 = unsigned(n / kVec), blocks = (n4 + kThreads - 1) / kThreads;
  const ActK a = act ? act_k(*act) : ActK{};
  if (act)
    NL_LAUNCH(seg_apply_finish_v6<true>, blocks, kThreads, 0, y, mean, rstd, x, part, gamma, beta, s, M4, n4, eps, a);
  else
    NL_LAUNCH(seg_apply_finish_v6<false>, blocks, kThreads, 0, y, mean, rstd, x, part, gamma, beta, s, M4, n4, eps, a);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}

// The backward, per-channel affine: dx ASSIGNED, dgamma and dbeta ACCUMULATED, for statistics
// [N, G] of groups of C/G channels (layer norm: G = 1). beta is read only with act.
void planes_backward_v6(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                        const float* x, const float* gamma, const float* beta, int N, int C, int HW, int G,
                        const Activation<float>* act) {
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  const int64_t n = int64_t(s.nseg) * s.M, planes = int64_t(N) * C;
  if (!vec4_ok(n, HW, dx, dy, x))
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, act, true);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(planes)));
  const ActK a = act ? act_k(*act) : ActK{};
  launch_plane_sums(part, dy, mean, rstd, x, gamma, beta, N, C, HW, G, act);
  const unsigned M4 = unsigned(s.M / kVec), n4 = unsigned(n / kVec), blocks = (n4 + kThreads - 1) / kThreads;
  if (act)
    NL_LAUNCH(seg_bwd_dx_finish_v6<true>, blocks, kThreads, 0, dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, part,
              s, N, C, M4, n4, a);
  else
    NL_LAUNCH(seg_bwd_dx_finish_v6<false>, blocks, kThreads, 0, dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta,
              part, s, N, C, M4, n4, a);
  cuda_release(part);
}
}  // namespace
}  // namespace normlab::cuda
