// CUDA batch norm, version 6 (kernels/cuda/versions.h): each direction in one kernel, the
// element-wise pass reading x (and dy) again from L2 (kernels/cuda/pipeline.cuh). Math:
// kernels/batchnorm.h; versions 1-5: kernels/cuda/batchnorm.cu.
//
// The units are the channels, the parts their ranges of samples (bn::ranges_v6: versions 2-5's,
// except that a range holds at most bn::kV6RangeValues values). Forward:
//   reduce(c, r): stats_range over range r of channel c -> part (mean, M2); the block that finishes
//                 channel c's last range runs the finishing stage on its first warp
//                 (finish_stats_warp: mean, rstd, running statistics, y's coefficients) and
//                 publishes the channel;
//   apply(c, r):  y = a x + b, or act(a x + b), over range r of channel c.
// Backward: reduce(c, r) sums dz and dz xhat (bwd_range), the finisher adds them into dgamma and
// dbeta and writes dx's coefficients (finish_bwd_warp); apply(c, r) writes dx.
// Every sum is the one versions 3-5 compute, in their order, from the same code
// (batchnorm_parts.cuh): where the ranges are theirs (every shape of the model) the bits are
// version 5's. The element-wise passes read quads (float4) where version 5 does (vec4_ok), else
// one value per thread.
//
// Launches: one zeroing of the counters and one kernel each way, where versions 3-5 launch three
// kernels (partial, finish, element-wise) each way.
#include "core/device.h"
#include "kernels/cuda/batchnorm_parts.cuh"
#include "kernels/cuda/pipeline.cuh"
#include "kernels/cuda/vec4.cuh"

namespace normlab::cuda::bn {
namespace {

// The element-wise pass over range [n0, n1) of channel c: fn(k) for each value k, or
// fn4(q) for each quad q (quads: HW % 4 == 0 and aligned pointers, as version 5).
template <class F, class F4>
__device__ inline void each_in_range(int c, int n0, int n1, int C, int HW, bool quads, F fn, F4 fn4) {
  if (quads) {
    const unsigned HW4 = unsigned(HW / kVec), count = unsigned(n1 - n0) * HW4;
    for (unsigned j = threadIdx.x; j < count; j += blockDim.x)
      fn4((unsigned(n0) + j / HW4) * unsigned(C) * HW4 + unsigned(c) * HW4 + j % HW4);
  } else {
    const int64_t count = int64_t(n1 - n0) * HW;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x)
      fn((int64_t(n0) + j / HW) * C * HW + int64_t(c) * HW + j % HW);
  }
}

template <bool kAct>
__global__ void bn_forward_v6(float* y, float* mean, float* rstd, float* rmean, float* rvar, float* part, float* coef,
                              PipeSync sync, const float* x, const float* gamma, const float* beta, int N, int C,
                              int HW, Split rg, PipeOrder order, bool quads, float eps, float momentum, ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  for (int64_t t = pipe_take(sync); t < order.tickets(); t = pipe_take(sync)) {
    const PipeOrder::Item it = order.item(t);
    const int c = it.unit, r = it.part, n0 = r * int(rg.per), n1 = n0 + int(rg.size(r, N));
    if (!it.apply) {
      const MeanM2 st = stats_range(x, c, n0, n1, C, HW);
      if (threadIdx.x == 0) {
        part[(int64_t(r) * C + c) * 2] = st.mean;
        part[(int64_t(r) * C + c) * 2 + 1] = st.m2;
      }
      if (pipe_arrive(sync, c, int(rg.count)) && threadIdx.x < kWarp) {
        finish_stats_warp(c, int(threadIdx.x), mean, rstd, rmean, rvar, coef, part, gamma, beta, N, C, HW, rg, eps,
                          momentum);
        if (threadIdx.x == 0) pipe_publish(sync, c);
      }
      continue;
    }
    pipe_wait(sync, c);
    const float a = __ldcg(coef + c), b = __ldcg(coef + C + c);
    each_in_range(
        c, n0, n1, C, HW, quads, [&](int64_t k) { y[k] = y_value<kAct>(a, b, x[k], act, seed, k); },
        [&](unsigned q) { y_quad<kAct>(y, x, q, a, b, act, seed); });
  }
}

template <bool kAct>
__global__ void bn_backward_v6(float* dx, float* dgamma, float* dbeta, float* part, float* coef, PipeSync sync,
                               const float* dy, const float* mean, const float* rstd, const float* x,
                               const float* gamma, const float* beta, int N, int C, int HW, Split rg, PipeOrder order,
                               bool quads, ActK act) {
  const uint64_t seed = kAct ? act_seed(act) : 0;
  for (int64_t t = pipe_take(sync); t < order.tickets(); t = pipe_take(sync)) {
    const PipeOrder::Item it = order.item(t);
    const int c = it.unit, r = it.part, n0 = r * int(rg.per), n1 = n0 + int(rg.size(r, N));
    const float mu = mean[c], rs = rstd[c];
    const Affine ab = kAct ? affine(gamma[c], beta[c], mu, rs) : Affine{0.f, 0.f};
    if (!it.apply) {
      const Sums sm = bwd_range<kAct>(dy, x, c, n0, n1, C, HW, mu, rs, ab, act, seed);
      if (threadIdx.x == 0) {
        part[(int64_t(r) * C + c) * 2] = sm.dz;
        part[(int64_t(r) * C + c) * 2 + 1] = sm.dzx;
      }
      if (pipe_arrive(sync, c, int(rg.count)) && threadIdx.x < kWarp) {
        finish_bwd_warp(c, int(threadIdx.x), dgamma, dbeta, coef, part, rstd, gamma, N, C, HW, rg);
        if (threadIdx.x == 0) pipe_publish(sync, c);
      }
      continue;
    }
    pipe_wait(sync, c);
    const float f = __ldcg(coef + c), fx = __ldcg(coef + C + c), f0 = __ldcg(coef + 2 * C + c);
    each_in_range(
        c, n0, n1, C, HW, quads,
        [&](int64_t k) { dx[k] = dx_value<kAct>(f, fx, f0, mu, ab, x[k], dy[k], act, seed, k); },
        [&](unsigned q) { dx_quad<kAct>(dx, dy, x, q, f, fx, f0, mu, ab, act, seed); });
  }
}

// Scratch for one launch: the partials, `coefs` coefficients per channel, then the zeroed counters.
struct Scratch {
  float *part, *coef;
  PipeSync sync;
};
Scratch scratch(const Split& rg, int C, int coefs) {
  const std::size_t floats = std::size_t(rg.count) * C * 2 + std::size_t(coefs) * C;
  char* p = static_cast<char*>(cuda_alloc(floats * sizeof(float) + PipeSync::ints(C) * sizeof(int)));
  const PipeSync sync{reinterpret_cast<int*>(p + floats * sizeof(float)), C};
  cuda_memset_zero(sync.base, PipeSync::ints(C) * sizeof(int));
  return {reinterpret_cast<float*>(p), reinterpret_cast<float*>(p) + std::size_t(rg.count) * C * 2, sync};
}

// The schedule: C channels of rg.count ranges, `tensors` tensors read twice, as many channels
// ahead as fit in L2 / kPipeL2Fraction; the grid: as many blocks as the SMs hold at once (at
// 40-48 registers a thread, 5 of 256 threads per H100 SM), at most one per item.
PipeOrder schedule(int N, int C, int HW, const Split& rg, int tensors) {
  const int64_t channel_bytes = int64_t(N) * HW * int64_t(sizeof(float)) * tensors;
  const int64_t lead = int64_t(cuda_l2_bytes()) / kPipeL2Fraction / channel_bytes;
  return {C, int(rg.count), int(lead < 1 ? 1 : lead < C ? lead : C)};
}
template <class K>
int grid(const PipeOrder& o, K kernel) {
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  const int64_t g = int64_t(cuda_sm_count()) * (per_sm > 0 ? per_sm : 1);
  return int(g < o.tickets() ? g : o.tickets());
}
}  // namespace

void forward_v6(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act) {
  const Split rg = ranges_v6(N, C, HW);
  const Scratch s = scratch(rg, C, 2);
  const PipeOrder o = schedule(N, C, HW, rg, 1);
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, y, x);
  if (act)
    NL_LAUNCH(bn_forward_v6<true>, grid(o, bn_forward_v6<true>), kThreads, 0, y, mean, rstd, rmean, rvar, s.part,
              s.coef, s.sync, x, gamma, beta, N, C, HW, rg, o, quads, eps, momentum, act_k(*act));
  else
    NL_LAUNCH(bn_forward_v6<false>, grid(o, bn_forward_v6<false>), kThreads, 0, y, mean, rstd, rmean, rvar, s.part,
              s.coef, s.sync, x, gamma, beta, N, C, HW, rg, o, quads, eps, momentum, ActK{});
  cuda_release(s.part);  // stream order: a later kernel that reuses it runs after this one
}

void backward_v6(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act) {
  const Split rg = ranges_v6(N, C, HW);
  const Scratch s = scratch(rg, C, 3);
  const PipeOrder o = schedule(N, C, HW, rg, 2);
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, dx, dy, x);
  if (act)
    NL_LAUNCH(bn_backward_v6<true>, grid(o, bn_backward_v6<true>), kThreads, 0, dx, dgamma, dbeta, s.part, s.coef,
              s.sync, dy, mean, rstd, x, gamma, beta, N, C, HW, rg, o, quads, act_k(*act));
  else
    NL_LAUNCH(bn_backward_v6<false>, grid(o, bn_backward_v6<false>), kThreads, 0, dx, dgamma, dbeta, s.part, s.coef,
              s.sync, dy, mean, rstd, x, gamma, beta, N, C, HW, rg, o, quads, ActK{});
  cuda_release(s.part);
}

}  // namespace normlab::cuda::bn
