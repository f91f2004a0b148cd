// Version 8 of group norm and layer norm (kernels/cuda/versions.h): version 5, except that a segment
// of at most kV8SegmentValues values is normalized by one block — one launch forward, two backward
// (version 5: three each way). Math: kernels/groupnorm.h (forward: mean, rstd = 1/sqrt(var + eps) per
// segment, y = act(gamma xhat + beta); backward: g = dz gamma, dx = rstd (g - mean(g) - xhat mean(g
// xhat)), dgamma += sum dz xhat, dbeta += sum dz; layer norm is G = 1 group of C channels).
//
// Why. The model's segments are small: at batch 128 a (sample, group) of group norm holds 216-3,456
// values and a sample of layer norm 432-6,912, so a layer's tensor moves in about a microsecond or
// less, yet version 5 spends three launches each way on it (version 6 two): run 4 (H200,
// docs/results-gpu.md) timed version 5's forward + backward at 21-33 us on those layers (24-45 us
// with the ReLU and dropout), and version 1 — already one block per segment, but plain — at
// 15-20 us on the layers from 8x8 down, 1.2-1.5x faster than version 5 there.
//
// How. Block seg owns segment seg (a contiguous run of M values), with version 5's thread count
// (kThreads), and runs version 5's own code on it, so it gives version 5's bits:
//   forward:  each of the segment's chunks of values (version 5's chunks) by seg_stats_partial_block
//             into shared memory, one after another, then seg_stat combines them in chunk order, as
//             seg_stats_finish does; then y value by value by version 5's seg_y_value;
//             thread 0 writes mean and rstd. The second and third reads of the segment come from L1/L2.
//   backward: the segment's Cg planes' sums of dz and dz xhat by plane_sums_range (a warp per plane,
//             the block's 8 warps taking planes 8 apart, as version 3's plane_sums) into part; after a
//             barrier thread 0 takes the segment's mean(g) and mean(g xhat) from them
//             (plane_segment_means, channels in order); then dx value by value by version 5's
//             seg_dx_value. dgamma and dbeta sum every sample's planes, so a second launch adds them,
//             one thread per channel over the samples in order (plane_channel_grads, as
//             plane_finish).
// Scalar loads, so any H*W and alignment. Larger segments, and layer norm's per-element affine
// backward, run version 5. No atomics: deterministic.
#pragma once
#include "core/device.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_act_v4.cuh"

namespace normlab::cuda {
namespace {
constexpr int64_t kV8SegmentValues = 16384;  // the most values of a segment on one block
// Chunks of values of a segment of at most kV8SegmentValues (version 5's chunks hold at least
// kMinChunk values): the shared memory of their partials.
constexpr int kV8MaxChunks = int((kV8SegmentValues + kMinChunk - 1) / kMinChunk);

bool v8_fits(const Segments& s) { return s.M <= kV8SegmentValues && s.R <= kV8MaxChunks; }

template <bool kAct>
__global__ void seg_forward_v8(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                               const float* beta, Segments s, float eps, ActK act) {
  NL_SHARED(float, part, 2 * kV8MaxChunks);
  NL_SHARED(float, stat, 2);
  const int seg = int(blockIdx.x);
  const float* xs = x + int64_t(seg) * s.M;
  // (seg_stats_partial_block and seg_stat index the partials by segment: here the block's one, 0)
  for (int r = 0; r < s.R; ++r) seg_stats_partial_block(part, xs, s, 0, r);
  __syncthreads();  // thread 0 wrote the partials
  if (threadIdx.x == 0) {
    const SegStat st = seg_stat(part, s, 0, eps);
    stat[0] = st.mean;
    stat[1] = st.rstd;
    mean[seg] = st.mean;
    rstd[seg] = st.rstd;
  }
  __syncthreads();
  const float mu = stat[0], rs = stat[1];
  const uint64_t seed = kAct ? act_seed(act) : 0;
  for (int64_t i = threadIdx.x; i < s.M; i += blockDim.x) {
    const int64_t k = int64_t(seg) * s.M + i, p = seg_param(s, seg, i);
    y[k] = seg_y_value<kAct>(gamma[p], beta[p], x[k], mu, rs, act, seed, k);
  }
}

// Block seg = (n, g): planes' sums into part[(n * C + c) * 2 + {0, 1}], then dx. Per-channel affine.
template <bool kAct>
__global__ void seg_backward_v8(float* dx, float* part, const float* dy, const float* mean, const float* rstd,
                                const float* x, const float* gamma, const float* beta, Segments s, int C, ActK act) {
  NL_SHARED(float, means, 2);
  const int seg = int(blockIdx.x), n = seg / s.G, c0 = (seg % s.G) * s.Cg;
  const uint64_t seed = kAct ? act_seed(act) : 0;
  const int64_t p0 = int64_t(n) * C + c0;
  if constexpr (kAct)
    plane_sums_range(part, dy, mean, rstd, x, C, s.HW, s.G, p0, p0 + s.Cg, 0, 1, ActDz{gamma, beta, act, seed});
  else
    plane_sums_range(part, dy, mean, rstd, x, C, s.HW, s.G, p0, p0 + s.Cg, 0, 1, PlainDz{});
  __syncthreads();  // the block's warps wrote its planes' sums (global memory: visible to the block now)
  if (threadIdx.x == 0) plane_segment_means(means, part, gamma, C, s.HW, s.G, seg);
  __syncthreads();
  const float mu = mean[seg], rs = rstd[seg], m_g = means[0], m_gx = means[1];
  for (int64_t i = threadIdx.x; i < s.M; i += blockDim.x) {
    const int64_t k = int64_t(seg) * s.M + i, p = seg_param(s, seg, i);
    dx[k] = seg_dx_value<kAct>(gamma, beta, p, x[k], dy[k], mu, rs, m_g, m_gx, act, seed, k);
  }
}

// dgamma_c, dbeta_c += the planes' sums of channel c over the samples, in order.
__global__ void seg_affine_grads_v8(float* dgamma, float* dbeta, const float* part, int N, int C) {
  NL_GRID_LOOP(c, C) plane_channel_grads(dgamma, dbeta, part, N, C, int(c));
}

// Host side. act: the *_act op's activation, or nullptr for the plain op. The forward: y, mean, rstd
// ASSIGNED. Version 5 where a segment does not fit in a block.
void segments_forward_v8(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const Segments& s, float eps, const Activation<float>* act) {
  if (!v8_fits(s)) return segments_forward_v45(y, mean, rstd, x, gamma, beta, s, eps, act, true);
  const ActK a = act ? act_k(*act) : ActK{};
  if (act)
    NL_LAUNCH(seg_forward_v8<true>, s.nseg, kThreads, 0, y, mean, rstd, x, gamma, beta, s, eps, a);
  else
    NL_LAUNCH(seg_forward_v8<false>, s.nseg, kThreads, 0, y, mean, rstd, x, gamma, beta, s, eps, a);
}
// The backward, per-channel affine: dx ASSIGNED, dgamma and dbeta ACCUMULATED, statistics [N, G] of
// groups of C/G channels (layer norm: G = 1); beta is read only with act. Version 5 where a segment
// does not fit in a block.
void planes_backward_v8(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                        const float* x, const float* gamma, const float* beta, int N, int C, int HW, int G,
                        const Activation<float>* act) {
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  if (!v8_fits(s))
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, act, true);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(N) * C));
  const ActK a = act ? act_k(*act) : ActK{};
  if (act)
    NL_LAUNCH(seg_backward_v8<true>, s.nseg, kThreads, 0, dx, part, dy, mean, rstd, x, gamma, beta, s, C, a);
  else
    NL_LAUNCH(seg_backward_v8<false>, s.nseg, kThreads, 0, dx, part, dy, mean, rstd, x, gamma, beta, s, C, a);
  NL_LAUNCH(seg_affine_grads_v8, blocks_for(C), kThreads, 0, dgamma, dbeta, part, N, C);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}
}  // namespace
}  // namespace normlab::cuda
