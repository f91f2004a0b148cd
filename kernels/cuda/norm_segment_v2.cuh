// Version 2 of the per-segment normalization of group norm and layer norm (kernels/cuda/versions.h):
// the same math as norm_segment.cuh, with each segment's reductions spread over many blocks.
// A segment is a contiguous run of M values — a (sample, group) for GN, a sample for LN — and the
// nseg segments are [nseg][M] in memory. Each segment is cut into R chunks (about kSegBlocks
// blocks in all, from the shape only, so the bits do not depend on the GPU), then:
//   forward:  seg_stats_partial, one block per (segment, chunk): the chunk's mean and
//             M2 = sum (x - chunk mean)^2 (its second pass served from cache);
//             seg_stats_finish, one thread per segment: the chunks combined in order (Chan et al.),
//             mean and rstd;
//             seg_apply, element-wise: y = gamma[p] * (x - mean) * rstd + beta[p].
//   backward: seg_bwd_partial, one block per (segment, chunk): sum g and sum g * xhat, g = dy * gamma[p];
//             seg_bwd_finish, one thread per segment: their means over the segment, in chunk order;
//             seg_bwd_dx, element-wise: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
// p, the affine parameter of value i of segment s, is its channel (s % G) * Cg + i / HW, or for
// LN's per-element affine the element i itself. No atomics: deterministic.
#pragma once
#include "core/device.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"

namespace normlab::cuda {
namespace {
constexpr int kSegBlocks = 1024;  // blocks per reduction, about
constexpr int kMinChunk = 1024;   // values per block at least (4 per thread)

struct Segments {
  int nseg;          // segments
  int64_t M;         // values per segment
  int HW, G, Cg;     // the affine parameter's layout: channel (s % G) * Cg + i / HW ...
  bool per_element;  // ... or element i
  int64_t chunk;     // values per block
  int R;             // chunks per segment
};

Segments make_segments(int nseg, int64_t M, int HW, int G, int Cg, bool per_element) {
  Segments s{nseg, M, HW, G, Cg, per_element, M, 1};
  const Split sp = split_ranges(M, nseg, kSegBlocks, (M + kMinChunk - 1) / kMinChunk);
  s.chunk = sp.per;
  s.R = int(sp.count);
  return s;
}

__device__ inline int64_t seg_param(const Segments& s, int seg, int64_t i) {
  return s.per_element ? i : int64_t(seg % s.G) * s.Cg + i / s.HW;
}

// z, the normalized value before the activation (y = z without one).
__device__ inline float seg_z(float gamma, float beta, float x, float mu, float rs) {
  return gamma * (x - mu) * rs + beta;
}
// The element-wise passes' value k, as versions 2-8 compute it (written once, so that they give the
// same bits): the forward's y = z, or act(z) (kAct); the backward's dx = rstd (g - mean(g) - xhat
// mean(g xhat)), g = dz gamma_p, dz = dy or dy act'(z) (kAct: beta_p read for z; the plain op's beta,
// which may be null, is not read).
template <bool kAct>
__device__ inline float seg_y_value(float gamma, float beta, float x, float mu, float rs, const ActK& act,
                                    uint64_t seed, int64_t k) {
  const float z = seg_z(gamma, beta, x, mu, rs);
  return kAct ? act_apply(act, seed, k, z) : z;
}
template <bool kAct>
__device__ inline float seg_dx_value(const float* gamma, const float* beta, int64_t p, float x, float dy, float mu,
                                     float rs, float m_g, float m_gx, const ActK& act, uint64_t seed, int64_t k) {
  const float gp = gamma[p];
  const float dz = kAct ? act_grad(act, seed, k, seg_z(gp, beta[p], x, mu, rs), dy) : dy;
  const float g = dz * gp;
  return rs * (g - m_g - (x - mu) * rs * m_gx);
}

// part[(seg * R + r) * 2 + {0, 1}] = chunk r of segment seg's mean and M2, by one block (also
// group and layer norm's version 7, norm_chunks_v7.cuh).
__device__ inline void seg_stats_partial_block(float* part, const float* x, const Segments& s, int seg, int r) {
  const int64_t i0 = r * s.chunk, i1 = i0 + s.chunk < s.M ? i0 + s.chunk : s.M;
  const float* xs = x + int64_t(seg) * s.M;
  float sum = 0.f;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) sum += xs[i];
  const float mu = block_sum(sum) / float(i1 - i0);
  float ss = 0.f;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    const float d = xs[i] - mu;
    ss += d * d;
  }
  const float m2 = block_sum(ss);
  if (threadIdx.x == 0) {
    part[(int64_t(seg) * s.R + r) * 2] = mu;
    part[(int64_t(seg) * s.R + r) * 2 + 1] = m2;
  }
}
__global__ void seg_stats_partial(float* part, const float* x, Segments s) {
  seg_stats_partial_block(part, x, s, int(blockIdx.x), int(blockIdx.y));
}

// Segment seg's mean and rstd from its chunks' partials, in chunk order (also group and layer
// norm's version 6, norm_finish_v6.cuh).
struct SegStat {
  float mean, rstd;
};
__device__ inline SegStat seg_stat(const float* part, const Segments& s, int64_t seg, float eps) {
  const MeanM2 st = combine_mean_m2(part + seg * s.R * 2, 2, Split{s.chunk, s.R}, s.M, 1);
  return {st.mean, rsqrtf(st.m2 / float(s.M) + eps)};
}

__global__ void seg_stats_finish(float* mean, float* rstd, const float* part, Segments s, float eps) {
  NL_GRID_LOOP(seg, s.nseg) {
    const SegStat st = seg_stat(part, s, seg, eps);
    mean[seg] = st.mean;
    rstd[seg] = st.rstd;
  }
}

__global__ void seg_apply(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                          const float* beta, Segments s) {
  NL_GRID_LOOP(k, int64_t(s.nseg) * s.M) {
    const int seg = int(k / s.M);
    const int64_t p = seg_param(s, seg, k % s.M);
    y[k] = seg_z(gamma[p], beta[p], x[k], mean[seg], rstd[seg]);
  }
}

// part[(seg * R + r) * 2 + {0, 1}] = the chunk's sum g and sum g * xhat.
__global__ void seg_bwd_partial(float* part, const float* dy, const float* mean, const float* rstd, const float* x,
                                const float* gamma, Segments s) {
  const int seg = int(blockIdx.x), r = int(blockIdx.y);
  const int64_t i0 = r * s.chunk, i1 = i0 + s.chunk < s.M ? i0 + s.chunk : s.M, off = int64_t(seg) * s.M;
  const float mu = mean[seg], rs = rstd[seg];
  float sg = 0.f, sgx = 0.f;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    const float g = dy[off + i] * gamma[seg_param(s, seg, i)];
    sg += g;
    sgx += g * (x[off + i] - mu) * rs;
  }
  sg = block_sum(sg);
  sgx = block_sum(sgx);
  if (threadIdx.x == 0) {
    part[(int64_t(seg) * s.R + r) * 2] = sg;
    part[(int64_t(seg) * s.R + r) * 2 + 1] = sgx;
  }
}

// means[seg * 2 + {0, 1}] = mean(g), mean(g * xhat) over the segment, the chunks in order.
__global__ void seg_bwd_finish(float* means, const float* part, Segments s) {
  NL_GRID_LOOP(seg, s.nseg) {
    float sg = 0.f, sgx = 0.f;
    for (int r = 0; r < s.R; ++r) {
      sg += part[(seg * s.R + r) * 2];
      sgx += part[(seg * s.R + r) * 2 + 1];
    }
    means[seg * 2] = sg / float(s.M);
    means[seg * 2 + 1] = sgx / float(s.M);
  }
}

__global__ void seg_bwd_dx(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                           const float* gamma, const float* means, Segments s) {
  NL_GRID_LOOP(k, int64_t(s.nseg) * s.M) {
    const int seg = int(k / s.M);
    const int64_t p = seg_param(s, seg, k % s.M);
    dx[k] = seg_dx_value<false>(gamma, nullptr, p, x[k], dy[k], mean[seg], rstd[seg], means[seg * 2],
                                means[seg * 2 + 1], ActK{}, 0, k);
  }
}

// Host side: the forward (y, mean, rstd ASSIGNED) and the input gradient (dx ASSIGNED).
void segments_forward_v2(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const Segments& s, float eps) {
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(s.nseg) * s.R));
  NL_LAUNCH(seg_stats_partial, dim3(s.nseg, s.R), kThreads, 0, part, x, s);
  NL_LAUNCH(seg_stats_finish, blocks_for(s.nseg), kThreads, 0, mean, rstd, part, s, eps);
  NL_LAUNCH(seg_apply, blocks_for(int64_t(s.nseg) * s.M), kThreads, 0, y, x, mean, rstd, gamma, beta, s);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}

void segments_backward_dx_v2(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                             const float* gamma, const Segments& s) {
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * (std::size_t(s.nseg) * s.R + s.nseg)));
  float* means = part + 2 * std::size_t(s.nseg) * s.R;
  NL_LAUNCH(seg_bwd_partial, dim3(s.nseg, s.R), kThreads, 0, part, dy, mean, rstd, x, gamma, s);
  NL_LAUNCH(seg_bwd_finish, blocks_for(s.nseg), kThreads, 0, means, part, s);
  NL_LAUNCH(seg_bwd_dx, blocks_for(int64_t(s.nseg) * s.M), kThreads, 0, dx, dy, mean, rstd, x, gamma, means, s);
  cuda_release(part);
}
}  // namespace
}  // namespace normlab::cuda
