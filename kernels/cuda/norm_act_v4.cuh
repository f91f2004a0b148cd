// Version 4 of group norm and layer norm (kernels/cuda/versions.h): version 3 with the activation
// that follows the norm in the model fused in (groupnorm_act_*, layernorm_act_*; kernels/activation.h).
// The plain ops run version 3.
//   forward:  version 2's statistics (seg_stats_partial, seg_stats_finish), then seg_apply_act,
//             element-wise: y = act(z), z = gamma[p] * (x - mean) * rstd + beta[p] (seg_z);
//   backward: version 3's (norm_planes_v3.cuh) with dz = dy * act'(z) in place of dy, z recomputed
//             by seg_z from x, the saved statistics, gamma and beta as the forward computed it:
//             plane_sums_act, one warp per (sample, channel) plane: s_dz, s_dzx;
//             plane_finish (version 3's): the segments' means and dgamma/dbeta;
//             seg_bwd_dx_act, element-wise.
// Against the composed versions (activation.cuh) the activation's own pass each way is gone and y is
// never read back: the forward writes y once, the backward reads dy and x twice and writes dx.
// LN's per-element affine fuses the forward only; its backward composes (version 2's kernels).
// Version 5 (quads = true below): version 4 with its two element-wise passes on quads, four values
// of one plane per thread, one float4 load or store per tensor, one 32-bit divide per quad
// (kernels/cuda/vec4.cuh): seg_apply_v5, seg_bwd_dx_v5 — the same expressions per value, so
// version 4's bits; and for the plain ops (kAct = false) version 3's passes on quads, so version
// 3's bits. LN's per-element backward keeps version 2's kernels.
// No atomics: deterministic.
#pragma once
#include "core/device.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_planes_v3.cuh"
#include "kernels/cuda/norm_segment_v2.cuh"
#include "kernels/cuda/vec4.cuh"

namespace normlab::cuda {
namespace {
__global__ void seg_apply_act(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                              const float* beta, Segments s, ActK act) {
  const uint64_t seed = act_seed(act);
  NL_GRID_LOOP(k, int64_t(s.nseg) * s.M) {
    const int seg = int(k / s.M);
    const int64_t p = seg_param(s, seg, k % s.M);
    y[k] = seg_y_value<true>(gamma[p], beta[p], x[k], mean[seg], rstd[seg], act, seed, k);
  }
}

// dz for plane_sums_range of the *_act ops: dy * act'(z), z recomputed by seg_z.
struct ActDz {
  const float *gamma, *beta;
  ActK act;
  uint64_t seed;
  __device__ float operator()(int c, int64_t k, float x, float dy, float mu, float rs) const {
    return act_grad(act, seed, k, seg_z(gamma[c], beta[c], x, mu, rs), dy);
  }
};

// plane_sums with dz for dy: part[(n * C + c) * 2 + {0, 1}] = s_dz, s_dzx of plane (n, c).
__global__ void plane_sums_act(float* part, const float* dy, const float* mean, const float* rstd, const float* x,
                               const float* gamma, const float* beta, int N, int C, int HW, int G, ActK act) {
  plane_sums_range(part, dy, mean, rstd, x, C, HW, G, 0, int64_t(N) * C, blockIdx.x, gridDim.x,
                   ActDz{gamma, beta, act, act_seed(act)});
}

// seg_bwd_dx with dz for dy.
__global__ void seg_bwd_dx_act(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                               const float* gamma, const float* beta, const float* means, Segments s, ActK act) {
  const uint64_t seed = act_seed(act);
  NL_GRID_LOOP(k, int64_t(s.nseg) * s.M) {
    const int seg = int(k / s.M);
    const int64_t p = seg_param(s, seg, k % s.M);
    dx[k] = seg_dx_value<true>(gamma, beta, p, x[k], dy[k], mean[seg], rstd[seg], means[seg * 2], means[seg * 2 + 1],
                               act, seed, k);
  }
}

// ---- version 5: the element-wise passes on quads ----------------------------------------------
// A quad's segment and parameter, once per quad: quad q of the tensor starts at value i0 of segment
// seg (M4 = M / 4 quads per segment); its values' parameters are p + j (per-element affine) or p.
struct QuadAt {
  unsigned seg, p;
};
__device__ inline QuadAt quad_at(const Segments& s, unsigned q, unsigned M4) {
  const unsigned seg = q / M4, i0 = (q - seg * M4) * kVec;
  const unsigned p = s.per_element ? i0 : unsigned(seg % unsigned(s.G)) * unsigned(s.Cg) + i0 / unsigned(s.HW);
  return {seg, p};
}
__device__ inline unsigned quad_param(const Segments& s, const QuadAt& a, int j) {
  return s.per_element ? a.p + unsigned(j) : a.p;
}

// One quad of seg_apply_act (kAct) or seg_apply (the plain op: no activation, beta read only for
// z), its segment's statistics given (also version 6's pass, norm_finish_v6.cuh).
template <bool kAct>
__device__ inline void seg_apply_quad(float* y, const float* x, float mu, float rs, const float* gamma,
                                      const float* beta, const Segments& s, const QuadAt& at, unsigned q, ActK act,
                                      uint64_t seed) {
  const Quad xv = load_quad(x, q);
  Quad out;
  for (int j = 0; j < kVec; ++j) {
    const unsigned p = quad_param(s, at, j);
    out.v[j] = seg_y_value<kAct>(gamma[p], beta[p], xv.v[j], mu, rs, act, seed, int64_t(q) * kVec + j);
  }
  store_quad(y, q, out);
}

template <bool kAct>
__global__ void seg_apply_v5(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                             const float* beta, Segments s, unsigned M4, unsigned n4, ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  NL_QUAD_LOOP(q, n4) {
    const QuadAt at = quad_at(s, q, M4);
    seg_apply_quad<kAct>(y, x, mean[at.seg], rstd[at.seg], gamma, beta, s, at, q, act, seed);
  }
}

// One quad of seg_bwd_dx_act (kAct) or seg_bwd_dx (the plain op: beta not read), its segment's
// statistics and means m_g = mean(g), m_gx = mean(g * xhat) given (also version 6's pass).
template <bool kAct>
__device__ inline void seg_bwd_dx_quad(float* dx, const float* dy, float mu, float rs, const float* x,
                                       const float* gamma, const float* beta, float m_g, float m_gx, const Segments& s,
                                       const QuadAt& at, unsigned q, ActK act, uint64_t seed) {
  const Quad xv = load_quad(x, q), d = load_quad(dy, q);
  Quad out;
  for (int j = 0; j < kVec; ++j) {
    const unsigned p = quad_param(s, at, j);
    out.v[j] = seg_dx_value<kAct>(gamma, beta, p, xv.v[j], d.v[j], mu, rs, m_g, m_gx, act, seed, int64_t(q) * kVec + j);
  }
  store_quad(dx, q, out);
}

template <bool kAct>
__global__ void seg_bwd_dx_v5(float* dx, const float* dy, const float* mean, const float* rstd, const float* x,
                              const float* gamma, const float* beta, const float* means, Segments s, unsigned M4,
                              unsigned n4, ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  NL_QUAD_LOOP(q, n4) {
    const QuadAt at = quad_at(s, q, M4);
    seg_bwd_dx_quad<kAct>(dx, dy, mean[at.seg], rstd[at.seg], x, gamma, beta, means[at.seg * 2], means[at.seg * 2 + 1],
                          s, at, q, act, seed);
  }
}

// Host side of versions 4 and 5: act, the *_act op's activation, or nullptr for the plain op
// (version 5 only: version 4's plain ops are version 3's); quads: version 5's element-wise passes
// where they apply (kernels/cuda/vec4.cuh).
// The forward: y, mean, rstd ASSIGNED.
void segments_forward_v45(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                          const Segments& s, float eps, const Activation<float>* act, bool quads) {
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(s.nseg) * s.R));
  NL_LAUNCH(seg_stats_partial, dim3(s.nseg, s.R), kThreads, 0, part, x, s);
  NL_LAUNCH(seg_stats_finish, blocks_for(s.nseg), kThreads, 0, mean, rstd, part, s, eps);
  const int64_t n = int64_t(s.nseg) * s.M;
  const ActK a = act ? act_k(*act) : ActK{};
  if (quads && vec4_ok(n, s.HW, y, x)) {
    const unsigned M4 = unsigned(s.M / kVec), n4 = unsigned(n / kVec);
    if (act)
      NL_LAUNCH(seg_apply_v5<true>, blocks_for(n4), kThreads, 0, y, x, mean, rstd, gamma, beta, s, M4, n4, a);
    else
      NL_LAUNCH(seg_apply_v5<false>, blocks_for(n4), kThreads, 0, y, x, mean, rstd, gamma, beta, s, M4, n4, a);
  } else if (act) {
    NL_LAUNCH(seg_apply_act, blocks_for(n), kThreads, 0, y, x, mean, rstd, gamma, beta, s, a);
  } else {
    NL_LAUNCH(seg_apply, blocks_for(n), kThreads, 0, y, x, mean, rstd, gamma, beta, s);
  }
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}

// The planes' sums part[plane * 2 + {0, 1}]: of dy (the plain op) or of dz = dy * act'(z) (act).
void launch_plane_sums(float* part, const float* dy, const float* mean, const float* rstd, const float* x,
                       const float* gamma, const float* beta, int N, int C, int HW, int G,
                       const Activation<float>* act) {
  const int64_t planes = int64_t(N) * C;
  if (act)
    NL_LAUNCH(plane_sums_act, blocks_for(planes * kWarp), kThreads, 0, part, dy, mean, rstd, x, gamma, beta, N, C, HW,
              G, act_k(*act));
  else
    NL_LAUNCH(plane_sums, blocks_for(planes * kWarp), kThreads, 0, part, dy, mean, rstd, x, N, C, HW, G);
}

// The backward, per-channel affine: dx ASSIGNED, dgamma and dbeta ACCUMULATED, for statistics
// [N, G] of groups of C/G channels (layer norm: G = 1). beta is read only with act.
void planes_backward_v45(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                         const float* x, const float* gamma, const float* beta, int N, int C, int HW, int G,
                         const Activation<float>* act, bool quads) {
  const int64_t planes = int64_t(N) * C;
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * (std::size_t(planes) + std::size_t(N) * G)));
  float* means = part + 2 * planes;
  const ActK a = act ? act_k(*act) : ActK{};
  launch_plane_sums(part, dy, mean, rstd, x, gamma, beta, N, C, HW, G, act);
  NL_LAUNCH(plane_finish, blocks_for(int64_t(N) * G + C), kThreads, 0, means, dgamma, dbeta, part, gamma, N, C, HW, G);
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  const int64_t n = int64_t(s.nseg) * s.M;
  if (quads && vec4_ok(n, HW, dx, dy, x)) {
    const unsigned M4 = unsigned(s.M / kVec), n4 = unsigned(n / kVec);
    if (act)
      NL_LAUNCH(seg_bwd_dx_v5<true>, blocks_for(n4), kThreads, 0, dx, dy, mean, rstd, x, gamma, beta, means, s, M4, n4,
                a);
    else
      NL_LAUNCH(seg_bwd_dx_v5<false>, blocks_for(n4), kThreads, 0, dx, dy, mean, rstd, x, gamma, beta, means, s, M4, n4,
                a);
  } else if (act) {
    NL_LAUNCH(seg_bwd_dx_act, blocks_for(n), kThreads, 0, dx, dy, mean, rstd, x, gamma, beta, means, s, a);
  } else {
    NL_LAUNCH(seg_bwd_dx, blocks_for(n), kThreads, 0, dx, dy, mean, rstd, x, gamma, means, s);
  }
  cuda_release(part);
}
}  // namespace
}  // namespace normlab::cuda
