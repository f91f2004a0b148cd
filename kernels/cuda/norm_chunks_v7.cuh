// Version 7 of group norm and layer norm (kernels/cuda/versions.h): version 6's blocks in a pipeline
// of chunks of segments, so that the element-wise pass re-reads x (and dy) from L2, not DRAM, as
// batch norm's version 8 does with chunks of channels. Math: kernels/groupnorm.h (forward: mean,
// rstd = 1/sqrt(var + eps) per segment, y = act(gamma xhat + beta); backward: g = dz gamma,
// dx = rstd (g - mean(g) - xhat mean(g xhat)), dgamma += sum dz xhat, dbeta += sum dz; layer norm
// is G = 1 group of C channels).
//
// Why. Versions 5 and 6 read each tensor twice: the partial sums (forward: chunks' mean and M2;
// backward: the planes' s_dz, s_dzx), then the element-wise pass. On a tensor larger than L2 (N=256,
// C=64, 56x56: 205 MB, against 50 MB of L2 on an H100) the second read comes from DRAM too: 8 tensor
// passes for a forward + backward where 5 would do. Run 4 measured version 5 at 51% of the copy
// bandwidth there (docs/results-gpu.md), which 8 passes of 5 cap at 62.5%.
//
// How. A segment — a (sample, group) for GN, a sample for LN — is a contiguous run of M values, and
// the nseg segments lie one after another, so a chunk of cs segments is one contiguous slice of the
// tensor: [seg0 M, seg1 M) of the values, [seg0 M / 4, seg1 M / 4) of the quads and, backward, planes
// [seg0 Cg, seg1 Cg). Launch j runs, on one grid, the partial sums of chunk j (forward:
// seg_stats_partial_block, one block per (segment, chunk of values); backward: plane_sums_range, a
// warp per plane) and the element-wise pass of chunk j - 1 with its finishing folded in, as version
// 6 (seg_apply_finish_block, seg_bwd_dx_finish_block): chunks + 1 launches each way. The backward's
// dgamma and dbeta sum every sample's planes, so the first pass block of the last launch adds them,
// after every plane's sums. No block waits for another: the launches' order on the stream is the
// only dependency. cs is the most segments for which kResident tensors' worth of a chunk fit in the
// L2 plan (l2_plan_bytes, the device's L2 by default), as batch norm's version 8 reckons it; where
// the whole tensor is one chunk (every layer of the model at batch 128) this is version 6's two
// launches each way.
//
// The forward's chunks of values are version 5's, but capped at kV7ChunkValues, so that a launch of a
// few segments still has many reduction blocks (version 5 cuts a 56x56 LN sample into 4 chunks of
// 50,176 values: a launch of 20 samples would have 80 long reduction blocks for 132 SMs). The model's
// and the tests' chunks are under the cap, so there the sums, expressions and bits are version 6's
// (which are version 5's); where capped, other bits. The chunk size never changes a bit: it only
// picks the launch of a block. Where quads do not apply, and for layer norm's per-element affine
// backward, version 7 runs version 5, as version 6 does. No atomics: deterministic.
#pragma once
#include "core/device.h"
#include "kernels/cuda/l2_chunks.cuh"
#include "kernels/cuda/norm_finish_v6.cuh"

namespace normlab::cuda {
namespace {
constexpr int64_t kV7ChunkValues = 4096;  // the most values of a forward reduction block (batch norm v6's cap)
// Tensors' worth of a chunk that L2 must hold at once: forward x of chunks j - 1 and j, y of j - 1;
// backward dy and x of both, dx of j - 1.
constexpr int kV7FwdResident = 3;
constexpr int kV7BwdResident = 5;

// Version 5's chunks of values, at most kV7ChunkValues each.
Segments capped_segments(Segments s) {
  if (s.chunk <= kV7ChunkValues) return s;
  const int64_t count = (s.M + kV7ChunkValues - 1) / kV7ChunkValues;  // chunks of equal size but the last
  s.chunk = (s.M + count - 1) / count;
  s.R = int((s.M + s.chunk - 1) / s.chunk);
  return s;
}

// Segments per chunk: the most of which `resident` tensors' worth fit in the L2 plan.
int chunk_segments(const Segments& s, int resident) {
  return l2_chunk_items(s.nseg, double(s.M) * sizeof(float) * resident);
}

// Blocks b < nred_blocks: chunk r = b % R of segment red0 + b / R; the others the pass over quads [qa, qb).
template <bool kAct>
__global__ void seg_forward_v7(float* y, float* mean, float* rstd, float* part, const float* x, const float* gamma,
                               const float* beta, Segments s, unsigned M4, float eps, ActK act, int red0,
                               unsigned nred_blocks, unsigned qa, unsigned qb) {
  const unsigned b = blockIdx.x;
  if (b < nred_blocks)
    seg_stats_partial_block(part, x, s, red0 + int(b / unsigned(s.R)), int(b % unsigned(s.R)));
  else
    seg_apply_finish_block<kAct>(y, mean, rstd, x, part, gamma, beta, s, M4, block_segs(qa, qb, b - nred_blocks, M4),
                                 eps, act);
}

// Blocks b < nred_blocks: the planes [p0, p1), a warp each; the others the pass over quads [qa, qb),
// whose first block adds dgamma and dbeta where channel_grads (the last launch).
template <bool kAct>
__global__ void planes_backward_v7_kernel(float* dx, float* dgamma, float* dbeta, float* part, const float* dy,
                                          const float* mean, const float* rstd, const float* x, const float* gamma,
                                          const float* beta, Segments s, int N, int C, unsigned M4, ActK act,
                                          int64_t p0, int64_t p1, unsigned nred_blocks, unsigned qa, unsigned qb,
                                          bool channel_grads) {
  const unsigned b = blockIdx.x;
  if (b < nred_blocks) {
    if constexpr (kAct)
      plane_sums_range(part, dy, mean, rstd, x, C, s.HW, s.G, p0, p1, b, nred_blocks,
                       ActDz{gamma, beta, act, act_seed(act)});
    else
      plane_sums_range(part, dy, mean, rstd, x, C, s.HW, s.G, p0, p1, b, nred_blocks, PlainDz{});
  } else {
    seg_bwd_dx_finish_block<kAct>(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, part, s, N, C, M4,
                                  block_segs(qa, qb, b - nred_blocks, M4), channel_grads && b == nred_blocks, act);
  }
}

unsigned quad_blocks(unsigned quads) { return (quads + kThreads - 1) / kThreads; }

// Host side. act: the *_act op's activation, or nullptr for the plain op.
// The forward: y, mean, rstd ASSIGNED.
void segments_forward_v7(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                         const Segments& s5, float eps, const Activation<float>* act) {
  const int64_t n = int64_t(s5.nseg) * s5.M;
  if (!vec4_ok(n, s5.HW, y, x)) return segments_forward_v45(y, mean, rstd, x, gamma, beta, s5, eps, act, true);
  const Segments s = capped_segments(s5);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(s.nseg) * s.R));
  const unsigned M4 = unsigned(s.M / kVec);
  const ActK a = act ? act_k(*act) : ActK{};
  chunk_pipeline(s.nseg, chunk_segments(s, kV7FwdResident), [&](int red0, int nred, int app0, int napp) {
    const unsigned nred_blocks = unsigned(nred) * unsigned(s.R), qa = unsigned(app0) * M4,
                   qb = qa + unsigned(napp) * M4, grid = nred_blocks + quad_blocks(qb - qa);
    if (act)
      NL_LAUNCH(seg_forward_v7<true>, grid, kThreads, 0, y, mean, rstd, part, x, gamma, beta, s, M4, eps, a, red0,
                nred_blocks, qa, qb);
    else
      NL_LAUNCH(seg_forward_v7<false>, grid, kThreads, 0, y, mean, rstd, part, x, gamma, beta, s, M4, eps, a, red0,
                nred_blocks, qa, qb);
  });
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}

// The backward, per-channel affine: dx ASSIGNED, dgamma and dbeta ACCUMULATED, for statistics
// [N, G] of groups of C/G channels (layer norm: G = 1). beta is read only with act.
void planes_backward_v7(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                        const float* x, const float* gamma, const float* beta, int N, int C, int HW, int G,
                        const Activation<float>* act) {
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  const int64_t n = int64_t(s.nseg) * s.M;
  if (!vec4_ok(n, HW, dx, dy, x))
    return planes_backward_v45(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, G, act, true);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * std::size_t(N) * std::size_t(C)));
  const unsigned M4 = unsigned(s.M / kVec);
  const ActK a = act ? act_k(*act) : ActK{};
  const int64_t Cg = C / G, nseg = s.nseg;
  chunk_pipeline(s.nseg, chunk_segments(s, kV7BwdResident), [&](int red0, int nred, int app0, int napp) {
    const int64_t p0 = red0 * Cg, p1 = (red0 + nred) * Cg;
    const unsigned nred_blocks = unsigned((p1 - p0 + kPlanesPerBlock - 1) / kPlanesPerBlock),
                   qa = unsigned(app0) * M4, qb = qa + unsigned(napp) * M4,
                   grid = nred_blocks + quad_blocks(qb - qa);
    const bool last = app0 + napp == nseg;
    if (act)
      NL_LAUNCH(planes_backward_v7_kernel<true>, grid, kThreads, 0, dx, dgamma, dbeta, part, dy, mean, rstd, x, gamma,
                beta, s, N, C, M4, a, p0, p1, nred_blocks, qa, qb, last);
    else
      NL_LAUNCH(planes_backward_v7_kernel<false>, grid, kThreads, 0, dx, dgamma, dbeta, part, dy, mean, rstd, x,
                gamma, beta, s, N, C, M4, a, p0, p1, nred_blocks, qa, qb, last);
  });
  cuda_release(part);
}
}  // namespace
}  // namespace normlab::cuda
