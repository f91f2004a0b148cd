// Pieces of the CUDA batch norm shared by versions 2-5 and 7 (kernels/cuda/batchnorm.cu), version 6's
// one-kernel pipeline (kernels/cuda/batchnorm_v6.cu), version 8's chunks (batchnorm_v8.cu) and version
// 9's one block per small channel (batchnorm_v9.cu): the
// ranges of the two-stage reductions, one block's partial sums over a range, a channel's finishing
// stage on one warp, the per-value expressions of the element-wise passes, and one block's work
// in versions 2-8. Each is written once, so the versions that share it give
// the same bits. Math: kernels/batchnorm.h.
#pragma once
#include "kernels/activation.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vec4.cuh"

namespace normlab::cuda::bn {

constexpr int kBnBlocks = 1024;  // blocks per reduction (about; at most one range per sample)
// Version 6: a range holds at most this many values (or one sample), so that the ranges read at
// the same time fit in L2 and the second reads of a range (its M2 pass, then the element-wise pass)
// find it there: at most 8 resident blocks of 256 threads x 132 SMs x 16 KB = 17 MB on an H100.
constexpr int kV6RangeValues = 4096;

// Each channel's N samples in ranges: per = samples per range, count = ranges per channel.
inline Split ranges(int N, int C) { return split_ranges(N, C, kBnBlocks, N); }
// Version 6's: the same, unless a range would hold more than kV6RangeValues values (only large
// planes: the model's ranges are versions 2-5's, and so are its bits).
inline Split ranges_v6(int N, int C, int HW) {
  const Split s = ranges(N, C);
  const int64_t cap = HW < kV6RangeValues ? kV6RangeValues / HW : 1;
  return s.per <= cap ? s : Split{cap, (N + cap - 1) / cap};
}

// y = a x + b for channel c: a = gamma rstd, b = beta - gamma rstd mean. One expression, so that
// version 4's backward recomputes the forward's z to the bit.
struct Affine {
  float a, b;
};
__device__ inline Affine affine(float gamma, float beta, float mu, float rs) {
  const float a = gamma * rs;
  return {a, beta - a * mu};
}

// One block's partial statistics of channel c over samples [n0, n1): the mean, then M2 about it
// (the second read of the range is served from cache). Every thread gets them.
__device__ inline MeanM2 stats_range(const float* x, int c, int n0, int n1, int C, int HW) {
  float s = 0.f;
  for (int n = n0; n < n1; ++n) {
    const float* xc = x + (int64_t(n) * C + c) * HW;
    for (int i = int(threadIdx.x); i < HW; i += int(blockDim.x)) s += xc[i];
  }
  const float mu = block_sum(s) / float((n1 - n0) * HW);
  float ss = 0.f;
  for (int n = n0; n < n1; ++n) {
    const float* xc = x + (int64_t(n) * C + c) * HW;
    for (int i = int(threadIdx.x); i < HW; i += int(blockDim.x)) {
      const float d = xc[i] - mu;
      ss += d * d;
    }
  }
  return {mu, block_sum(ss)};
}

// One block's partial sums of the backward over samples [n0, n1) of channel c: sum dz and
// sum dz xhat, dz = dy (kAct false) or dy act'(z) with z = ab.a x + ab.b (kAct). Every thread gets them.
struct Sums {
  float dz, dzx;
};
template <bool kAct>
__device__ inline Sums bwd_range(const float* dy, const float* x, int c, int n0, int n1, int C, int HW, float mu,
                                 float rs, Affine ab, const ActK& act, uint64_t seed) {
  float sdz = 0.f, sdzx = 0.f;
  for (int n = n0; n < n1; ++n) {
    const int64_t off = (int64_t(n) * C + c) * HW;
    for (int i = int(threadIdx.x); i < HW; i += int(blockDim.x)) {
      const float xv = x[off + i],
                  dz = kAct ? act_grad(act, seed, off + i, ab.a * xv + ab.b, dy[off + i]) : dy[off + i];
      sdz += dz;
      sdzx += dz * (xv - mu) * rs;
    }
  }
  return {block_sum(sdz), block_sum(sdzx)};
}

// rstd = 1 / sqrt(var + eps), var = M2 / M over M = N*HW values.
__device__ inline float rstd_of(float m2, int N, int HW, float eps) {
  const float M = float(N) * float(HW), var = m2 / M;
  return rsqrtf(var + eps);
}

// Channel c's statistics from its mean and M2 over M = N*HW values: mean, rstd, the running
// statistics, and y's coefficients coef[c] = a, coef[C + c] = b (not with coef = nullptr: version 7's
// blocks each compute them).
__device__ inline void write_stats(int c, float mu, float m2, float* mean, float* rstd, float* rmean, float* rvar,
                                   float* coef, const float* gamma, const float* beta, int N, int C, int HW, float eps,
                                   float momentum) {
  const float M = float(N) * float(HW), var = m2 / M, rs = rstd_of(m2, N, HW, eps);
  mean[c] = mu;
  rstd[c] = rs;
  const float unbiased = M > 1 ? m2 / (M - 1) : var;
  rmean[c] = (1 - momentum) * rmean[c] + momentum * mu;
  rvar[c] = (1 - momentum) * rvar[c] + momentum * unbiased;
  if (!coef) return;
  const Affine ab = affine(gamma[c], beta[c], mu, rs);
  coef[c] = ab.a;
  coef[C + c] = ab.b;
}

// dx's coefficients from channel c's sums of dy and dy xhat: f = gamma rstd, fx = -gamma rstd^2
// sum(dy xhat) / M, f0 = -gamma rstd sum(dy) / M, so that dx = f dy + fx (x - mean) + f0.
struct DxCoef {
  float f, fx, f0;
};
__device__ inline DxCoef dx_coef(float sdy, float sdyx, float rs, float gamma, int N, int HW) {
  const float M = float(N) * float(HW), f = gamma * rs;
  return {f, -f * rs * sdyx / M, -f * sdy / M};
}
// Channel c from its sums: dbeta += sum dy, dgamma += sum dy xhat; coef[c], coef[C + c], coef[2C + c] = dx_coef.
__device__ inline void write_bwd(int c, float sdy, float sdyx, float* dgamma, float* dbeta, float* coef,
                                 const float* rstd, const float* gamma, int N, int C, int HW) {
  dbeta[c] += sdy;
  dgamma[c] += sdyx;
  const DxCoef k = dx_coef(sdy, sdyx, rstd[c], gamma[c], N, HW);
  coef[c] = k.f;
  coef[C + c] = k.fx;
  coef[2 * C + c] = k.f0;
}

// The finishing stages of versions 3-6 on one warp, lane = 0..31, for channel c: the 32 lanes read
// the channel's partials part[(r * C + c) * 2 + {0, 1}] side by side (lane l: ranges l, l + 32, ...,
// through L2: in version 6 other blocks wrote them in the same launch) and warp_sum adds the lanes'
// sums in a fixed butterfly; lane 0 writes. The forward's is Chan's two-pass combination: the mean
// first, then M2 about it.
// (combine_*_warp: the sums themselves, which every lane gets; version 7 calls them in every block.)
__device__ inline MeanM2 combine_stats_warp(int c, int lane, const float* part, int N, int C, int HW, Split rg) {
  const float M = float(N) * float(HW);
  float s = 0.f;  // sum over ranges of m_r mu_r
  for (int64_t r = lane; r < rg.count; r += kWarp) s += float(rg.size(r, N) * HW) * __ldcg(part + (r * C + c) * 2);
  const float mu = warp_sum(s) / M;
  float q = 0.f;  // sum over ranges of M2_r + m_r (mu_r - mu)^2
  for (int64_t r = lane; r < rg.count; r += kWarp) {
    const float d = __ldcg(part + (r * C + c) * 2) - mu;
    q += __ldcg(part + (r * C + c) * 2 + 1) + float(rg.size(r, N) * HW) * d * d;
  }
  return {mu, warp_sum(q)};
}
__device__ inline Sums combine_bwd_warp(int c, int lane, const float* part, int C, Split rg) {
  float sdy = 0.f, sdyx = 0.f;
  for (int64_t r = lane; r < rg.count; r += kWarp) {
    sdy += __ldcg(part + (r * C + c) * 2);
    sdyx += __ldcg(part + (r * C + c) * 2 + 1);
  }
  return {warp_sum(sdy), warp_sum(sdyx)};
}
__device__ inline void finish_stats_warp(int c, int lane, float* mean, float* rstd, float* rmean, float* rvar,
                                         float* coef, const float* part, const float* gamma, const float* beta, int N,
                                         int C, int HW, Split rg, float eps, float momentum) {
  const MeanM2 st = combine_stats_warp(c, lane, part, N, C, HW, rg);
  if (lane == 0) write_stats(c, st.mean, st.m2, mean, rstd, rmean, rvar, coef, gamma, beta, N, C, HW, eps, momentum);
}
__device__ inline void finish_bwd_warp(int c, int lane, float* dgamma, float* dbeta, float* coef, const float* part,
                                       const float* rstd, const float* gamma, int N, int C, int HW, Split rg) {
  const Sums sm = combine_bwd_warp(c, lane, part, C, rg);
  if (lane == 0) write_bwd(c, sm.dz, sm.dzx, dgamma, dbeta, coef, rstd, gamma, N, C, HW);
}

// The element-wise passes' value k of channel c, as versions 3-6 compute it: the forward's
// y = z = a x + b, or act(z) (kAct); the backward's dx = f dz + fx (x - mean) + f0 with
// (f, fx, f0) = coef[c], coef[C + c], coef[2C + c] and dz = dy, or dy act'(z) with z = ab.a x + ab.b.
template <bool kAct>
__device__ inline float y_value(float a, float b, float x, const ActK& act, uint64_t seed, int64_t k) {
  const float z = a * x + b;
  return kAct ? act_apply(act, seed, k, z) : z;
}
template <bool kAct>
__device__ inline float dx_value(float f, float fx, float f0, float mu, Affine ab, float x, float dy, const ActK& act,
                                 uint64_t seed, int64_t k) {
  const float dz = kAct ? act_grad(act, seed, k, ab.a * x + ab.b, dy) : dy;
  return f * dz + fx * (x - mu) + f0;
}
// The same on quad q (kernels/cuda/vec4.cuh), as versions 5 and 6 run them.
template <bool kAct>
__device__ inline void y_quad(float* y, const float* x, unsigned q, float a, float b, const ActK& act, uint64_t seed) {
  const Quad xv = load_quad(x, q);
  Quad out;
  for (int j = 0; j < kVec; ++j) out.v[j] = y_value<kAct>(a, b, xv.v[j], act, seed, int64_t(q) * kVec + j);
  store_quad(y, q, out);
}
template <bool kAct>
__device__ inline void dx_quad(float* dx, const float* dy, const float* x, unsigned q, float f, float fx, float f0,
                               float mu, Affine ab, const ActK& act, uint64_t seed) {
  const Quad xv = load_quad(x, q), d = load_quad(dy, q);
  Quad out;
  for (int j = 0; j < kVec; ++j)
    out.v[j] = dx_value<kAct>(f, fx, f0, mu, ab, xv.v[j], d.v[j], act, seed, int64_t(q) * kVec + j);
  store_quad(dx, q, out);
}

// ---- one block's work, as versions 2-8 run it (block (c, r): channel c, range r of rg) --------
// Block (c, r)'s partial statistics into part[(r * C + c) * 2 + {0, 1}] = mu_b, M2_b (bn_stats_partial).
__device__ inline void stats_partial_block(float* part, const float* x, int c, int r, int N, int C, int HW, int per) {
  const int n0 = r * per, n1 = n0 + per < N ? n0 + per : N;
  const MeanM2 st = stats_range(x, c, n0, n1, C, HW);
  if (threadIdx.x == 0) {
    part[(r * C + c) * 2] = st.mean;
    part[(r * C + c) * 2 + 1] = st.m2;
  }
}
// Block (c, r)'s backward partial sums into part[(r * C + c) * 2 + {0, 1}] = sum dz, sum dz xhat;
// dz = dy (kAct false: gamma and beta not read) or dy act'(z) (bn_bwd_partial, bn_bwd_partial_act).
template <bool kAct>
__device__ inline void bwd_partial_block(float* part, const float* dy, const float* mean, const float* rstd,
                                         const float* x, const float* gamma, const float* beta, int c, int r, int N,
                                         int C, int HW, int per, const ActK& act) {
  const int n0 = r * per, n1 = n0 + per < N ? n0 + per : N;
  const float mu = mean[c], rs = rstd[c];
  Sums sm;
  if constexpr (kAct)
    sm = bwd_range<true>(dy, x, c, n0, n1, C, HW, mu, rs, affine(gamma[c], beta[c], mu, rs), act, act_seed(act));
  else
    sm = bwd_range<false>(dy, x, c, n0, n1, C, HW, mu, rs, Affine{}, ActK{}, 0);
  if (threadIdx.x == 0) {
    part[(r * C + c) * 2] = sm.dz;
    part[(r * C + c) * 2 + 1] = sm.dzx;
  }
}

// Channel c's values in samples [n0, n1) of range r, one float4 quad per thread (quads) or one
// value: fn(k) or fn_quad(q).
template <class Value, class QuadFn>
__device__ inline void range_pass(int c, int r, int N, int C, int HW, Split rg, bool quads, Value fn, QuadFn fn_quad) {
  const int n0 = int(r * rg.per), n1 = n0 + int(rg.per) < N ? n0 + int(rg.per) : N;
  for (int n = n0; n < n1; ++n) {
    const int64_t off = (int64_t(n) * C + c) * HW;
    if (quads) {
      const unsigned q0 = unsigned(off / kVec), HW4 = unsigned(HW / kVec);
      for (unsigned q = threadIdx.x; q < HW4; q += blockDim.x) fn_quad(q0 + q);
    } else {
      for (int i = int(threadIdx.x); i < HW; i += int(blockDim.x)) fn(off + i);
    }
  }
}

// Versions 7 and 8's element-wise pass of block (c, r), its finishing stage folded in: the first warp
// combines c's partials as version 5's finishing warp does, so every block of c holds version 5's
// coefficients; block (c, 0) alone writes the statistics and running statistics (forward) or adds
// dgamma and dbeta (backward). Every thread of the block must call it (a barrier inside).
template <bool kAct>
__device__ inline void apply_finish_block(float* y, float* mean, float* rstd, float* rmean, float* rvar,
                                          const float* x, const float* part, const float* gamma, const float* beta,
                                          int c, int r, int N, int C, int HW, Split rg, float eps, float momentum,
                                          const ActK& act, bool quads) {
  NL_SHARED(float, ab, 2);
  if (threadIdx.x < kWarp) {
    const MeanM2 st = combine_stats_warp(c, int(threadIdx.x), part, N, C, HW, rg);
    if (threadIdx.x == 0) {
      const Affine k = affine(gamma[c], beta[c], st.mean, rstd_of(st.m2, N, HW, eps));
      ab[0] = k.a;
      ab[1] = k.b;
      if (r == 0) write_stats(c, st.mean, st.m2, mean, rstd, rmean, rvar, nullptr, gamma, beta, N, C, HW, eps, momentum);
    }
  }
  __syncthreads();
  const float a = ab[0], b = ab[1];
  const uint64_t seed = kAct ? act_seed(act) : 0;
  range_pass(
      c, r, N, C, HW, rg, quads, [&](int64_t k) { y[k] = y_value<kAct>(a, b, x[k], act, seed, k); },
      [&](unsigned q) { y_quad<kAct>(y, x, q, a, b, act, seed); });
}
template <bool kAct>
__device__ inline void bwd_dx_finish_block(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                           const float* part, const float* mean, const float* rstd,
                                           const float* gamma, const float* beta, int c, int r, int N, int C, int HW,
                                           Split rg, const ActK& act, bool quads) {
  NL_SHARED(float, k3, 3);
  if (threadIdx.x < kWarp) {
    const Sums sm = combine_bwd_warp(c, int(threadIdx.x), part, C, rg);
    if (threadIdx.x == 0) {
      const DxCoef k = dx_coef(sm.dz, sm.dzx, rstd[c], gamma[c], N, HW);
      k3[0] = k.f;
      k3[1] = k.fx;
      k3[2] = k.f0;
      if (r == 0) {
        dbeta[c] += sm.dz;
        dgamma[c] += sm.dzx;
      }
    }
  }
  __syncthreads();
  const float f = k3[0], fx = k3[1], f0 = k3[2], mu = mean[c];
  const Affine ab = kAct ? affine(gamma[c], beta[c], mu, rstd[c]) : Affine{0.f, 0.f};
  const uint64_t seed = kAct ? act_seed(act) : 0;
  range_pass(
      c, r, N, C, HW, rg, quads,
      [&](int64_t k) { dx[k] = dx_value<kAct>(f, fx, f0, mu, ab, x[k], dy[k], act, seed, k); },
      [&](unsigned q) { dx_quad<kAct>(dx, dy, x, q, f, fx, f0, mu, ab, act, seed); });
}

// Version 6 (kernels/cuda/batchnorm_v6.cu): the whole forward (statistics, running statistics, y) and
// the whole backward (dgamma, dbeta +=, dx) in one kernel each, after one zeroing of its counters.
// act: the *_act op (nullptr: the plain one).
void forward_v6(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act);
void backward_v6(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act);
// Version 8 (kernels/cuda/batchnorm_v8.cu): version 7's blocks in a pipeline of channel chunks, the
// element-wise pass of a chunk in the launch after its partial sums, so it re-reads x (and dy) from L2.
void forward_v8(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act);
void backward_v8(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act);
// Version 9 (kernels/cuda/batchnorm_v9.cu): a channel of at most kV9ChannelValues values (v9_fits)
// normalized by one block, its values in registers, one launch each way; larger channels run
// version 5. 16,384: every layer of the model from 10x10 down at batch 128 (12,800 values at most).
constexpr int kV9ChannelValues = 16384;
bool v9_fits(int N, int HW);
void forward_v9(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act);
void backward_v9(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act);

}  // namespace normlab::cuda::bn
