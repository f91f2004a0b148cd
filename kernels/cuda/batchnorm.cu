// CUDA batch norm, in nine versions (kernels/cuda/versions.h). Math: kernels/batchnorm.h. All are
// deterministic: no atomics, every sum in a fixed order.
//
// Version 1, the plain one: one block per channel reduces over (N, H, W) with block_sum (two passes:
// mean, then the centred variance), normalizes its channel and updates the running statistics; the
// backward pass likewise, one block per channel. With the model's 8-16 channels that is 8-16
// blocks: most of a large GPU idles.
//
// Version 2, two-stage reductions over many blocks. Each channel's samples are split into ranges
// (about kBnBlocks blocks in all, from the shape only, so the bits do not depend on the GPU):
//   forward:  bn_stats_partial, one block per (channel, range): its count m_b, mean mu_b and
//             M2_b = sum (x - mu_b)^2 (the second pass over its slice is served from cache);
//             bn_stats_finish, one thread per channel, combines the ranges in order (Chan et al.:
//             mean = sum m_b mu_b / M, M2 = sum M2_b + m_b (mu_b - mean)^2), writes mean, rstd, the
//             running statistics and y's coefficients a = gamma rstd, b = beta - a mean;
//             bn_apply, element-wise over the whole tensor: y = a x + b.
//   backward: bn_bwd_partial, one block per (channel, range): sum dy and sum dy xhat;
//             bn_bwd_finish, one thread per channel: the sums in range order, dgamma/dbeta +=,
//             the coefficients of dx = gamma rstd dy + p (x - mean) + q;
//             bn_bwd_dx, element-wise.
//
// Version 3, version 2 with its finishing stages on a warp per channel. On an H100 (ncu, 2026-11-27)
// v2's bn_stats_finish and bn_bwd_finish — one thread per channel walking 64-128 partials one
// dependent load after another, on one block — took 11-40 us each, 20% of a training step's GPU
// time. In v3 the 32 lanes of a channel's warp read its partials side by side (lane l: ranges l,
// l + 32, ...) and warp_sum adds the lanes' sums in a fixed butterfly: the same two-pass Chan
// combination (the mean first, then M2 about it), in another fixed order, so other bits than v2's,
// the same on every run and GPU. The partial and element-wise kernels are v2's.
//
// Version 4, version 3 with the activation that follows the norm in the model fused in
// (batchnorm_act_*, kernels/activation.h; the plain ops run version 3): bn_apply_act writes
// act(a x + b); bn_bwd_partial_act and bn_bwd_dx_act take dz = dy * act'(z), z = a x + b
// recomputed from mean, rstd, gamma and beta by bn::affine, as the forward computed it. Versions 1-3
// compose the norm with the activation's own kernels (kernels/cuda/activation.cuh): one pass over
// the tensor more each way, and y read back for the mask.
//
// Version 5, version 4 with its two element-wise passes on quads (bn_apply_v5, bn_bwd_dx_v5):
// four values of one plane per thread, one float4 load or store per tensor, the channel found once
// per quad with 32-bit divides instead of k / HW % C per value in 64 bits (kernels/cuda/vec4.cuh).
// Each is a template: kAct, the *_act op's pass (version 4's bn_apply_act, bn_bwd_dx_act), else the
// plain op's (version 3's bn_apply, bn_bwd_dx). Where HW % 4 != 0 or a pointer is not 16-byte
// aligned it runs those older kernels. The same expressions per value: version 4's bits.
//
// Version 6, each direction in one kernel whose element-wise pass re-reads x (and dy) from L2:
// kernels/cuda/batchnorm_v6.cu. The pieces versions 2-7 share are in batchnorm_parts.cuh.
//
// Version 7, version 5 with each finishing stage folded into the element-wise pass that follows it:
// two kernels each way instead of three. The element-wise pass runs on the partial sums' grid, a
// block per (channel c, range r); its first warp combines c's partials exactly as version 5's
// finishing warp does (bn::combine_*_warp, the same order) and derives the coefficients from them by
// the same expressions, so every block of c holds the same values, and block (c, 0) alone writes
// what the finishing stage wrote besides (mean, rstd, running statistics; dgamma, dbeta +=). The
// others read c's 64-128 partials again (about 1 KB each, from L2) instead of waiting for a kernel
// launch between the two passes. Quads as in version 5 where vec4_ok, else one value per thread.
// The same values as version 5: its bits on the emulator (tests/test_cuda.cpp).
//
// Version 8, version 7's blocks in a pipeline of channel chunks through L2: kernels/cuda/batchnorm_v8.cu.
// Version 9, version 5 with a channel of at most 16,384 values on one block, one launch each way:
// kernels/cuda/batchnorm_v9.cu.
#include "core/device.h"
#include "kernels/batchnorm.h"
#include "kernels/cuda/activation.cuh"
#include "kernels/cuda/batchnorm_parts.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/cuda/vec4.cuh"
#include "kernels/cuda/versions.h"

namespace normlab::cuda {
namespace {
__device__ inline int64_t bn_index(int64_t i, int c, int C, int HW) {  // i-th value of channel c
  return (i / HW * C + c) * HW + i % HW;
}

__global__ void bn_train(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x,
                         const float* gamma, const float* beta, int N, int C, int HW, float eps, float momentum) {
  const int c = blockIdx.x;
  const int64_t M = int64_t(N) * HW;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) s += x[bn_index(i, c, C, HW)];
  const float mu = block_sum(s) / float(M);
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const float d = x[bn_index(i, c, C, HW)] - mu;
    ss += d * d;
  }
  const float var = block_sum(ss) / float(M);
  const float rs = rsqrtf(var + eps);
  const float a = gamma[c] * rs, b = beta[c] - gamma[c] * mu * rs;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    y[k] = a * x[k] + b;
  }
  if (threadIdx.x == 0) {
    mean[c] = mu;
    rstd[c] = rs;
    const float unbiased = M > 1 ? var * float(M) / float(M - 1) : var;
    rmean[c] = (1 - momentum) * rmean[c] + momentum * mu;
    rvar[c] = (1 - momentum) * rvar[c] + momentum * unbiased;
  }
}

__global__ void bn_eval(float* y, const float* x, const float* gamma, const float* beta, const float* rmean,
                        const float* rvar, int N, int C, int HW, float eps) {
  NL_GRID_LOOP(k, int64_t(N) * C * HW) {
    const int c = int(k / HW % C);
    const float rs = rsqrtf(rvar[c] + eps);
    y[k] = gamma[c] * rs * (x[k] - rmean[c]) + beta[c];
  }
}

__global__ void bn_bwd(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                       const float* x, const float* gamma, int N, int C, int HW) {
  const int c = blockIdx.x;
  const int64_t M = int64_t(N) * HW;
  const float mu = mean[c], rs = rstd[c];
  float sdy = 0.f, sdyx = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    sdy += dy[k];
    sdyx += dy[k] * (x[k] - mu) * rs;
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  const float f = gamma[c] * rs / float(M);
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t k = bn_index(i, c, C, HW);
    dx[k] = f * (float(M) * dy[k] - sdy - (x[k] - mu) * rs * sdyx);
  }
  if (threadIdx.x == 0) {
    dbeta[c] += sdy;
    dgamma[c] += sdyx;
  }
}

// ---- version 2 (the pieces versions 2-6 share: kernels/cuda/batchnorm_parts.cuh) -----------------
using bn::Affine;

// part[(r * C + c) * 2 + {0, 1}] = mu_b, M2_b of channel c over samples [r*per, r*per + per).
__global__ void bn_stats_partial(float* part, const float* x, int N, int C, int HW, int per) {
  bn::stats_partial_block(part, x, int(blockIdx.x), int(blockIdx.y), N, C, HW, per);
}

// One thread per channel; coef[c] = a, coef[C + c] = b.
__global__ void bn_stats_finish(float* mean, float* rstd, float* rmean, float* rvar, float* coef, const float* part,
                                const float* gamma, const float* beta, int N, int C, int HW, Split rg, float eps,
                                float momentum) {
  NL_GRID_LOOP(c, C) {
    const MeanM2 st = combine_mean_m2(part + 2 * c, 2 * int64_t(C), rg, N, HW);
    bn::write_stats(c, st.mean, st.m2, mean, rstd, rmean, rvar, coef, gamma, beta, N, C, HW, eps, momentum);
  }
}

__global__ void bn_apply(float* y, const float* x, const float* coef, int C, int HW, int64_t total) {
  NL_GRID_LOOP(k, total) {
    const int c = int(k / HW % C);
    y[k] = coef[c] * x[k] + coef[C + c];
  }
}

// part[(r * C + c) * 2 + {0, 1}] = sum dy, sum dy * xhat of channel c over the range's samples.
__global__ void bn_bwd_partial(float* part, const float* dy, const float* mean, const float* rstd, const float* x,
                               int N, int C, int HW, int per) {
  bn::bwd_partial_block<false>(part, dy, mean, rstd, x, nullptr, nullptr, int(blockIdx.x), int(blockIdx.y), N, C, HW,
                               per, ActK{});
}

// One thread per channel.
__global__ void bn_bwd_finish(float* dgamma, float* dbeta, float* coef, const float* part, const float* rstd,
                              const float* gamma, int N, int C, int HW, Split rg) {
  NL_GRID_LOOP(c, C) {
    float sdy = 0.f, sdyx = 0.f;
    for (int r = 0; r < rg.count; ++r) {
      sdy += part[(r * C + c) * 2];
      sdyx += part[(r * C + c) * 2 + 1];
    }
    bn::write_bwd(c, sdy, sdyx, dgamma, dbeta, coef, rstd, gamma, N, C, HW);
  }
}

__global__ void bn_bwd_dx(float* dx, const float* dy, const float* x, const float* mean, const float* coef, int C,
                          int HW, int64_t total) {
  NL_GRID_LOOP(k, total) {
    const int c = int(k / HW % C);
    dx[k] = coef[c] * dy[k] + coef[C + c] * (x[k] - mean[c]) + coef[2 * C + c];
  }
}

// Version 3's finishing stages: one warp (a block of kWarp threads) per channel c = blockIdx.x. Same
// outputs as bn_stats_finish / bn_bwd_finish.
__global__ void bn_stats_finish_warp(float* mean, float* rstd, float* rmean, float* rvar, float* coef,
                                     const float* part, const float* gamma, const float* beta, int N, int C, int HW,
                                     Split rg, float eps, float momentum) {
  bn::finish_stats_warp(int(blockIdx.x), int(threadIdx.x), mean, rstd, rmean, rvar, coef, part, gamma, beta, N, C, HW,
                        rg, eps, momentum);
}

__global__ void bn_bwd_finish_warp(float* dgamma, float* dbeta, float* coef, const float* part, const float* rstd,
                                   const float* gamma, int N, int C, int HW, Split rg) {
  bn::finish_bwd_warp(int(blockIdx.x), int(threadIdx.x), dgamma, dbeta, coef, part, rstd, gamma, N, C, HW, rg);
}

// ---- version 4: the activation fused in ---------------------------------------------------------
__global__ void bn_apply_act(float* y, const float* x, const float* coef, int C, int HW, int64_t total, ActK act) {
  const uint64_t seed = act_seed(act);
  NL_GRID_LOOP(k, total) {
    const int c = int(k / HW % C);
    y[k] = act_apply(act, seed, k, coef[c] * x[k] + coef[C + c]);
  }
}

// bn_bwd_partial with dz = dy * act'(z) for dy.
__global__ void bn_bwd_partial_act(float* part, const float* dy, const float* mean, const float* rstd, const float* x,
                                   const float* gamma, const float* beta, int N, int C, int HW, int per, ActK act) {
  bn::bwd_partial_block<true>(part, dy, mean, rstd, x, gamma, beta, int(blockIdx.x), int(blockIdx.y), N, C, HW, per,
                              act);
}

// bn_bwd_dx with dz for dy.
__global__ void bn_bwd_dx_act(float* dx, const float* dy, const float* x, const float* mean, const float* rstd,
                              const float* gamma, const float* beta, const float* coef, int C, int HW, int64_t total,
                              ActK act) {
  const uint64_t seed = act_seed(act);
  NL_GRID_LOOP(k, total) {
    const int c = int(k / HW % C);
    const Affine ab = bn::affine(gamma[c], beta[c], mean[c], rstd[c]);
    const float xv = x[k], dz = act_grad(act, seed, k, ab.a * xv + ab.b, dy[k]);
    dx[k] = coef[c] * dz + coef[C + c] * (xv - mean[c]) + coef[2 * C + c];
  }
}

// ---- version 5: the element-wise passes on quads (kernels/cuda/vec4.cuh) -----------------------
// A quad's channel once: quad q lies in plane q / HW4 of the [N, C] planes. kAct: the *_act op's
// pass (version 4's bn_apply_act, bn_bwd_dx_act); without it, the plain op's (version 3's bn_apply,
// bn_bwd_dx: no activation, beta not read).
template <bool kAct>
__global__ void bn_apply_v5(float* y, const float* x, const float* coef, unsigned C, unsigned HW4, unsigned n4,
                            ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  NL_QUAD_LOOP(q, n4) {
    const unsigned c = q / HW4 % C;
    bn::y_quad<kAct>(y, x, q, coef[c], coef[C + c], act, seed);
  }
}

template <bool kAct>
__global__ void bn_bwd_dx_v5(float* dx, const float* dy, const float* x, const float* mean, const float* rstd,
                             const float* gamma, const float* beta, const float* coef, unsigned C, unsigned HW4,
                             unsigned n4, ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  NL_QUAD_LOOP(q, n4) {
    const unsigned c = q / HW4 % C;
    const Affine ab = kAct ? bn::affine(gamma[c], beta[c], mean[c], rstd[c]) : Affine{0.f, 0.f};
    const float mu = mean[c], f = coef[c], fx = coef[C + c], f0 = coef[2 * C + c];
    bn::dx_quad<kAct>(dx, dy, x, q, f, fx, f0, mu, ab, act, seed);
  }
}

// ---- version 7: the finishing stages folded into the element-wise passes -----------------------
// Block (c, r) = (blockIdx.x, blockIdx.y): bn::apply_finish_block, bn::bwd_dx_finish_block.
template <bool kAct>
__global__ void bn_apply_finish_v7(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x,
                                   const float* part, const float* gamma, const float* beta, int N, int C, int HW,
                                   Split rg, float eps, float momentum, ActK act, bool quads) {
  bn::apply_finish_block<kAct>(y, mean, rstd, rmean, rvar, x, part, gamma, beta, int(blockIdx.x), int(blockIdx.y), N,
                               C, HW, rg, eps, momentum, act, quads);
}

template <bool kAct>
__global__ void bn_bwd_dx_finish_v7(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                    const float* part, const float* mean, const float* rstd, const float* gamma,
                                    const float* beta, int N, int C, int HW, Split rg, ActK act, bool quads) {
  bn::bwd_dx_finish_block<kAct>(dx, dgamma, dbeta, dy, x, part, mean, rstd, gamma, beta, int(blockIdx.x),
                                int(blockIdx.y), N, C, HW, rg, act, quads);
}

// Version 7's two kernels each way; act: the *_act op (nullptr: the plain one).
void forward_v7(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act) {
  const Split rg = bn::ranges(N, C);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * std::size_t(rg.count) * C * 2));
  NL_LAUNCH(bn_stats_partial, dim3(C, unsigned(rg.count)), kThreads, 0, part, x, N, C, HW, int(rg.per));
  const ActK a = act ? act_k(*act) : ActK{};
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, y, x);
  if (act)
    NL_LAUNCH(bn_apply_finish_v7<true>, dim3(C, unsigned(rg.count)), kThreads, 0, y, mean, rstd, rmean, rvar, x, part,
              gamma, beta, N, C, HW, rg, eps, momentum, a, quads);
  else
    NL_LAUNCH(bn_apply_finish_v7<false>, dim3(C, unsigned(rg.count)), kThreads, 0, y, mean, rstd, rmean, rvar, x, part,
              gamma, beta, N, C, HW, rg, eps, momentum, a, quads);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}
void backward_v7(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act) {
  const Split rg = bn::ranges(N, C);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * std::size_t(rg.count) * C * 2));
  const ActK a = act ? act_k(*act) : ActK{};
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, dx, dy, x);
  if (act) {
    NL_LAUNCH(bn_bwd_partial_act, dim3(C, unsigned(rg.count)), kThreads, 0, part, dy, mean, rstd, x, gamma, beta, N, C,
              HW, int(rg.per), a);
    NL_LAUNCH(bn_bwd_dx_finish_v7<true>, dim3(C, unsigned(rg.count)), kThreads, 0, dx, dgamma, dbeta, dy, x, part, mean,
              rstd, gamma, beta, N, C, HW, rg, a, quads);
  } else {
    NL_LAUNCH(bn_bwd_partial, dim3(C, unsigned(rg.count)), kThreads, 0, part, dy, mean, rstd, x, N, C, HW, int(rg.per));
    NL_LAUNCH(bn_bwd_dx_finish_v7<false>, dim3(C, unsigned(rg.count)), kThreads, 0, dx, dgamma, dbeta, dy, x, part,
              mean, rstd, gamma, beta, N, C, HW, rg, a, quads);
  }
  cuda_release(part);
}

// The element-wise passes of versions 2-5 (a plain op: act = nullptr): y = a x + b, then act(y).
void bn_apply_pass(float* y, const float* x, const float* coef, int N, int C, int HW, const Activation<float>* act) {
  const int64_t n = int64_t(N) * C * HW;
  const ActK a = act ? act_k(*act) : ActK{};
  if (kernel_version("batchnorm") >= 5 && vec4_ok(n, HW, y, x)) {
    const unsigned C4 = unsigned(C), HW4 = unsigned(HW / kVec), n4 = unsigned(n / kVec);
    if (act)
      NL_LAUNCH(bn_apply_v5<true>, blocks_for(n4), kThreads, 0, y, x, coef, C4, HW4, n4, a);
    else
      NL_LAUNCH(bn_apply_v5<false>, blocks_for(n4), kThreads, 0, y, x, coef, C4, HW4, n4, a);
  } else if (act) {
    NL_LAUNCH(bn_apply_act, blocks_for(n), kThreads, 0, y, x, coef, C, HW, n, a);
  } else {
    NL_LAUNCH(bn_apply, blocks_for(n), kThreads, 0, y, x, coef, C, HW, n);
  }
}
void bn_bwd_dx_pass(float* dx, const float* dy, const float* x, const float* mean, const float* rstd,
                    const float* gamma, const float* beta, const float* coef, int N, int C, int HW,
                    const Activation<float>* act) {
  const int64_t n = int64_t(N) * C * HW;
  const ActK a = act ? act_k(*act) : ActK{};
  if (kernel_version("batchnorm") >= 5 && vec4_ok(n, HW, dx, dy, x)) {
    const unsigned C4 = unsigned(C), HW4 = unsigned(HW / kVec), n4 = unsigned(n / kVec);
    if (act)
      NL_LAUNCH(bn_bwd_dx_v5<true>, blocks_for(n4), kThreads, 0, dx, dy, x, mean, rstd, gamma, beta, coef, C4, HW4, n4,
                a);
    else
      NL_LAUNCH(bn_bwd_dx_v5<false>, blocks_for(n4), kThreads, 0, dx, dy, x, mean, rstd, gamma, beta, coef, C4, HW4, n4,
                a);
  } else if (act) {
    NL_LAUNCH(bn_bwd_dx_act, blocks_for(n), kThreads, 0, dx, dy, x, mean, rstd, gamma, beta, coef, C, HW, n, a);
  } else {
    NL_LAUNCH(bn_bwd_dx, blocks_for(n), kThreads, 0, dx, dy, x, mean, coef, C, HW, n);
  }
}

bool use_v2() { return kernel_version("batchnorm") >= 2; }
bool use_v3() { return kernel_version("batchnorm") >= 3; }
bool use_v4() { return kernel_version("batchnorm") >= 4; }
bool use_v6() { return kernel_version("batchnorm") == 6; }
bool use_v7() { return kernel_version("batchnorm") == 7; }
bool use_v8() { return kernel_version("batchnorm") == 8; }
// Version 9 where a channel fits in its block; else version 5 (the code below, as versions 2-5).
bool use_v9(int N, int HW) { return kernel_version("batchnorm") == 9 && bn::v9_fits(N, HW); }
}  // namespace

template <>
void batchnorm_forward_train<float>(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                                    const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                                    float eps, float momentum) {
  if (use_v9(N, HW))
    return bn::forward_v9(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, nullptr);
  if (use_v8())
    return bn::forward_v8(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, nullptr);
  if (use_v7())
    return forward_v7(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, nullptr);
  if (use_v6())
    return bn::forward_v6(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, nullptr);
  if (use_v2()) {
    const Split rg = bn::ranges(N, C);
    float* part = static_cast<float*>(cuda_alloc(sizeof(float) * (std::size_t(rg.count) * C * 2 + 2 * std::size_t(C))));
    float* coef = part + std::size_t(rg.count) * C * 2;
    NL_LAUNCH(bn_stats_partial, dim3(C, unsigned(rg.count)), kThreads, 0, part, x, N, C, HW, int(rg.per));
    if (use_v3())
      NL_LAUNCH(bn_stats_finish_warp, C, kWarp, 0, mean, rstd, running_mean, running_var, coef, part, gamma, beta, N, C,
                HW, rg, eps, momentum);
    else
      NL_LAUNCH(bn_stats_finish, blocks_for(C), kThreads, 0, mean, rstd, running_mean, running_var, coef, part, gamma,
                beta, N, C, HW, rg, eps, momentum);
    bn_apply_pass(y, x, coef, N, C, HW, nullptr);
    cuda_release(part);  // stream order: a later kernel that reuses it runs after these
    return;
  }
  NL_LAUNCH(bn_train, C, kReduceThreads, 0, y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps,
            momentum);
}
template <>
void batchnorm_forward_eval<float>(float* y, const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int N, int C, int HW,
                                   float eps) {
  NL_LAUNCH(bn_eval, blocks_for(int64_t(N) * C * HW), kThreads, 0, y, x, gamma, beta, running_mean, running_var, N, C,
            HW, eps);
}
template <>
void batchnorm_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                               const float* rstd, const float* x, const float* gamma, int N, int C, int HW) {
  if (use_v9(N, HW)) return bn::backward_v9(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, nullptr);
  if (use_v8()) return bn::backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, nullptr);
  if (use_v7()) return backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, nullptr);
  if (use_v6()) return bn::backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, nullptr, N, C, HW, nullptr);
  if (use_v2()) {
    const Split rg = bn::ranges(N, C);
    float* part = static_cast<float*>(cuda_alloc(sizeof(float) * (std::size_t(rg.count) * C * 2 + 3 * std::size_t(C))));
    float* coef = part + std::size_t(rg.count) * C * 2;
    NL_LAUNCH(bn_bwd_partial, dim3(C, unsigned(rg.count)), kThreads, 0, part, dy, mean, rstd, x, N, C, HW, int(rg.per));
    if (use_v3())
      NL_LAUNCH(bn_bwd_finish_warp, C, kWarp, 0, dgamma, dbeta, coef, part, rstd, gamma, N, C, HW, rg);
    else
      NL_LAUNCH(bn_bwd_finish, blocks_for(C), kThreads, 0, dgamma, dbeta, coef, part, rstd, gamma, N, C, HW, rg);
    bn_bwd_dx_pass(dx, dy, x, mean, rstd, gamma, nullptr, coef, N, C, HW, nullptr);
    cuda_release(part);
    return;
  }
  NL_LAUNCH(bn_bwd, C, kReduceThreads, 0, dx, dgamma, dbeta, dy, mean, rstd, x, gamma, N, C, HW);
}

template <>
void batchnorm_act_forward_train<float>(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                                        const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                                        float eps, float momentum, Activation<float> act) {
  if (!use_v4()) {
    batchnorm_forward_train(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum);
    return activation_forward_inplace(y, int64_t(N) * C * HW, act);
  }
  if (use_v9(N, HW))
    return bn::forward_v9(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, &act);
  if (use_v8())
    return bn::forward_v8(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, &act);
  if (use_v7())
    return forward_v7(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, &act);
  if (use_v6())
    return bn::forward_v6(y, mean, rstd, running_mean, running_var, x, gamma, beta, N, C, HW, eps, momentum, &act);
  const Split rg = bn::ranges(N, C);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * (std::size_t(rg.count) * C * 2 + 2 * std::size_t(C))));
  float* coef = part + std::size_t(rg.count) * C * 2;
  NL_LAUNCH(bn_stats_partial, dim3(C, unsigned(rg.count)), kThreads, 0, part, x, N, C, HW, int(rg.per));
  NL_LAUNCH(bn_stats_finish_warp, C, kWarp, 0, mean, rstd, running_mean, running_var, coef, part, gamma, beta, N, C, HW,
            rg, eps, momentum);
  bn_apply_pass(y, x, coef, N, C, HW, &act);
  cuda_release(part);
}
template <>
void batchnorm_act_backward<float>(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean,
                                   const float* rstd, const float* y, const float* x, const float* gamma,
                                   const float* beta, int N, int C, int HW, Activation<float> act) {
  if (!use_v4()) {
    float* scratch;
    const float* dz = activation_backward(scratch, dy, y, int64_t(N) * C * HW, act);
    batchnorm_backward(dx, dgamma, dbeta, dz, mean, rstd, x, gamma, N, C, HW);
    return release_scratch(scratch);
  }
  if (use_v9(N, HW)) return bn::backward_v9(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, &act);
  if (use_v8()) return bn::backward_v8(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, &act);
  if (use_v7()) return backward_v7(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, &act);
  if (use_v6()) return bn::backward_v6(dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, &act);
  const Split rg = bn::ranges(N, C);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * (std::size_t(rg.count) * C * 2 + 3 * std::size_t(C))));
  float* coef = part + std::size_t(rg.count) * C * 2;
  const ActK a = act_k(act);
  NL_LAUNCH(bn_bwd_partial_act, dim3(C, unsigned(rg.count)), kThreads, 0, part, dy, mean, rstd, x, gamma, beta, N, C,
            HW, int(rg.per), a);
  NL_LAUNCH(bn_bwd_finish_warp, C, kWarp, 0, dgamma, dbeta, coef, part, rstd, gamma, N, C, HW, rg);
  bn_bwd_dx_pass(dx, dy, x, mean, rstd, gamma, beta, coef, N, C, HW, &act);
  cuda_release(part);
}

}  // namespace normlab::cuda
