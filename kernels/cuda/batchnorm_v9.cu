// CUDA batch norm, version 9 (kernels/cuda/versions.h): version 5, except that a channel of at most
// kV9ChannelValues values is normalized by one block, in one launch each way. Math:
// kernels/batchnorm.h (forward: mean, rstd = 1/sqrt(var + eps) per channel, y = act(gamma xhat + beta);
// backward: dgamma += sum dz xhat, dbeta += sum dz, dx = gamma rstd (dz - mean(dz) - xhat mean(dz xhat))).
//
// Why. On the model's small layers (10x10, 8x8 and 6x6 at batch 128: 4,608-12,800 values a channel)
// every version so far takes three launches each way (partial sums, finishing, element-wise pass;
// version 7 two), each over a tensor of 55-205 KB that moves in well under a microsecond: the
// launches' latency is the cost. Run 4 (H200, docs/results-gpu.md) timed version 5's forward +
// backward at 23-27 us on those layers, against 4.4-4.8 us for a copy of the same bytes, and
// version 1 (one block per channel, but scalar 64-bit index arithmetic and 18 dependent loads a
// thread) within 1.1x of it at 6x6.
//
// How. Block c holds channel c's M = N*HW values in registers, V per thread (V = 4, 8 or 16, the
// fewest that fit in kV9Threads threads; M / V threads rounded up to a warp): value i of the
// channel is sample i / HW, position i % HW, read by thread i % blockDim.x, so neighbouring threads
// read neighbouring values. Forward: the values' sum (block_sum), the mean; the sum of squared
// deviations about it from the same registers (an exact two-pass variance, no partials to combine);
// then y = act(a x + b) by version 5's expression, and thread 0 writes the statistics. Backward: dz
// and the sums of dz and dz xhat as version 5's partial pass computes them, then dx by version 5's
// coefficients (bn::dx_coef) from the registers; thread 0 adds dgamma and dbeta (the block owns the
// channel: no other block adds to it, no atomics). The sums run in another order than version 5's,
// so other bits, the same on every run and GPU. Any H*W and any alignment (no quads), so a
// misaligned tensor gives the aligned bits. Larger channels run version 5 as it is.
#include "kernels/cuda/batchnorm_parts.cuh"
#include "kernels/cuda/common.cuh"

namespace normlab::cuda::bn {
namespace {
constexpr int kV9Threads = 1024;  // at most, per block

// Index of value i of channel c: sample i / HW, position i % HW.
__device__ inline int64_t channel_value(int i, int c, int C, int HW) {
  const int n = i / HW;
  return (int64_t(n) * C + c) * HW + (i - n * HW);
}

template <bool kAct, int V>
__global__ void __launch_bounds__(kV9Threads)
    bn_forward_v9(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                  const float* beta, int N, int C, int HW, float eps, float momentum, ActK act) {
  const int c = int(blockIdx.x), M = N * HW, T = int(blockDim.x);
  float v[V];
  float s = 0.f;
  NL_UNROLL
  for (int j = 0; j < V; ++j) {
    const int i = int(threadIdx.x) + j * T;
    v[j] = i < M ? x[channel_value(i, c, C, HW)] : 0.f;
    s += v[j];
  }
  const float mu = block_sum(s) / float(M);
  float ss = 0.f;
  NL_UNROLL
  for (int j = 0; j < V; ++j) {
    const float d = v[j] - mu;
    if (int(threadIdx.x) + j * T < M) ss += d * d;
  }
  const float m2 = block_sum(ss);
  const Affine ab = affine(gamma[c], beta[c], mu, rstd_of(m2, N, HW, eps));
  const uint64_t seed = kAct ? act_seed(act) : 0;
  NL_UNROLL
  for (int j = 0; j < V; ++j) {
    const int i = int(threadIdx.x) + j * T;
    if (i >= M) continue;
    const int64_t k = channel_value(i, c, C, HW);
    y[k] = y_value<kAct>(ab.a, ab.b, v[j], act, seed, k);
  }
  if (threadIdx.x == 0) write_stats(c, mu, m2, mean, rstd, rmean, rvar, nullptr, gamma, beta, N, C, HW, eps, momentum);
}

template <bool kAct, int V>
__global__ void __launch_bounds__(kV9Threads)
    bn_backward_v9(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                   const float* x, const float* gamma, const float* beta, int N, int C, int HW, ActK act) {
  const int c = int(blockIdx.x), M = N * HW, T = int(blockDim.x);
  const float mu = mean[c], rs = rstd[c];
  const Affine ab = kAct ? affine(gamma[c], beta[c], mu, rs) : Affine{0.f, 0.f};
  const uint64_t seed = kAct ? act_seed(act) : 0;
  float xv[V], dz[V];
  float sdz = 0.f, sdzx = 0.f;
  NL_UNROLL
  for (int j = 0; j < V; ++j) {
    const int i = int(threadIdx.x) + j * T;
    xv[j] = dz[j] = 0.f;
    if (i >= M) continue;
    const int64_t k = channel_value(i, c, C, HW);
    xv[j] = x[k];
    dz[j] = kAct ? act_grad(act, seed, k, ab.a * xv[j] + ab.b, dy[k]) : dy[k];
    sdz += dz[j];
    sdzx += dz[j] * (xv[j] - mu) * rs;
  }
  sdz = block_sum(sdz);
  sdzx = block_sum(sdzx);
  const DxCoef q = dx_coef(sdz, sdzx, rs, gamma[c], N, HW);
  NL_UNROLL
  for (int j = 0; j < V; ++j) {
    const int i = int(threadIdx.x) + j * T;
    if (i < M) dx[channel_value(i, c, C, HW)] = q.f * dz[j] + q.fx * (xv[j] - mu) + q.f0;
  }
  if (threadIdx.x == 0) {
    dbeta[c] += sdz;
    dgamma[c] += sdzx;
  }
}

// Values per thread for a channel of M values, and the threads: the fewest values that fit, then
// the fewest whole warps.
struct Shape9 {
  int V, threads;
};
Shape9 shape9(int N, int HW) {
  const int M = N * HW, V = M <= 4 * kV9Threads ? 4 : M <= 8 * kV9Threads ? 8 : 16;
  return {V, (M + V * kWarp - 1) / (V * kWarp) * kWarp};
}
}  // namespace

bool v9_fits(int N, int HW) { return int64_t(N) * HW <= kV9ChannelValues; }

void forward_v9(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act) {
  const Shape9 s = shape9(N, HW);
  const ActK a = act ? act_k(*act) : ActK{};
  // (a kernel per (kAct, V): the launch names the instance, e.g. "(bn_forward_v9<true, 8>)")
#define NL_BN_FWD_V9(kAct, V)                                                                                     \
  NL_LAUNCH((bn_forward_v9<kAct, V>), C, s.threads, 0, y, mean, rstd, rmean, rvar, x, gamma, beta, N, C, HW, eps, \
            momentum, a)
  if (s.V == 4)
    act ? NL_BN_FWD_V9(true, 4) : NL_BN_FWD_V9(false, 4);
  else if (s.V == 8)
    act ? NL_BN_FWD_V9(true, 8) : NL_BN_FWD_V9(false, 8);
  else
    act ? NL_BN_FWD_V9(true, 16) : NL_BN_FWD_V9(false, 16);
#undef NL_BN_FWD_V9
}

void backward_v9(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act) {
  const Shape9 s = shape9(N, HW);
  const ActK a = act ? act_k(*act) : ActK{};
#define NL_BN_BWD_V9(kAct, V) \
  NL_LAUNCH((bn_backward_v9<kAct, V>), C, s.threads, 0, dx, dgamma, dbeta, dy, mean, rstd, x, gamma, beta, N, C, HW, a)
  if (s.V == 4)
    act ? NL_BN_BWD_V9(true, 4) : NL_BN_BWD_V9(false, 4);
  else if (s.V == 8)
    act ? NL_BN_BWD_V9(true, 8) : NL_BN_BWD_V9(false, 8);
  else
    act ? NL_BN_BWD_V9(true, 16) : NL_BN_BWD_V9(false, 16);
#undef NL_BN_BWD_V9
}

}  // namespace normlab::cuda::bn
