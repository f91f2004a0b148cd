// CUDA conv2d, direct (no im2col buffer). Forward: one thread per output value, the block's filter
// bank staged in shared memory when it fits. Backward-data: one thread per input value (gathers, no
// atomics). Backward-weight: one block per weight (k, c, r, s), block_sum over (n, i, j); one block
// per k for the bias. Deterministic. These are the straightforward versions; their speed against
// cuDNN is issue 3's benchmark to measure. Math: kernels/conv2d.h.
#include "kernels/conv2d.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"

namespace normlab::cuda {
namespace {
constexpr int kMaxSharedWeights = 12 * 1024;  // floats (48 KiB)

__global__ void conv_fwd(float* y, const float* x, const float* w, const float* b, Conv2dShape s) {
  NL_DYNAMIC_SHARED(float, sw);
  const int Ho = s.Ho(), Wo = s.Wo(), R = s.R;
  const int nw = s.K * s.C * R * R;
  const bool staged = nw <= kMaxSharedWeights;
  if (staged)
    for (int i = threadIdx.x; i < nw; i += blockDim.x) sw[i] = w[i];
  __syncthreads();
  const float* W = staged ? sw : w;
  NL_GRID_LOOP(o, int64_t(s.N) * s.K * Ho * Wo) {
    const int j = int(o % Wo), i = int(o / Wo % Ho), k = int(o / (int64_t(Wo) * Ho) % s.K);
    const int64_t n = o / (int64_t(Wo) * Ho * s.K);
    float acc = b ? b[k] : 0.f;
    for (int c = 0; c < s.C; ++c) {
      const float* xc = x + (n * s.C + c) * s.H * s.W;
      const float* wk = W + (k * s.C + c) * R * R;
      for (int r = 0; r < R; ++r) {
        const int hi = i + r - s.pad;
        if (hi < 0 || hi >= s.H) continue;
        for (int q = 0; q < R; ++q) {
          const int wi = j + q - s.pad;
          if (wi >= 0 && wi < s.W) acc += wk[r * R + q] * xc[hi * s.W + wi];
        }
      }
    }
    y[o] = acc;
  }
}

__global__ void conv_bwd_data(float* dx, const float* dy, const float* w, Conv2dShape s) {
  const int Ho = s.Ho(), Wo = s.Wo(), R = s.R;
  NL_GRID_LOOP(e, int64_t(s.N) * s.C * s.H * s.W) {
    const int q = int(e % s.W), p = int(e / s.W % s.H), c = int(e / (int64_t(s.W) * s.H) % s.C);
    const int64_t n = e / (int64_t(s.W) * s.H * s.C);
    float acc = 0.f;
    for (int k = 0; k < s.K; ++k) {
      const float* dyk = dy + (n * s.K + k) * Ho * Wo;
      const float* wk = w + (k * s.C + c) * R * R;
      for (int r = 0; r < R; ++r) {
        const int i = p - r + s.pad;
        if (i < 0 || i >= Ho) continue;
        for (int t = 0; t < R; ++t) {
          const int j = q - t + s.pad;
          if (j >= 0 && j < Wo) acc += wk[r * R + t] * dyk[i * Wo + j];
        }
      }
    }
    dx[e] = acc;
  }
}

__global__ void conv_bwd_weight(float* dw, const float* dy, const float* x, Conv2dShape s) {
  const int R = s.R, Ho = s.Ho(), Wo = s.Wo();
  const int widx = blockIdx.x;  // (k, c, r, t)
  const int t = widx % R, r = widx / R % R, c = widx / (R * R) % s.C, k = widx / (R * R * s.C);
  const int64_t M = int64_t(s.N) * Ho * Wo;
  float acc = 0.f;
  for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
    const int j = int(m % Wo), i = int(m / Wo % Ho);
    const int64_t n = m / (int64_t(Wo) * Ho);
    const int hi = i + r - s.pad, wi = j + t - s.pad;
    if (hi >= 0 && hi < s.H && wi >= 0 && wi < s.W)
      acc += dy[((n * s.K + k) * Ho + i) * Wo + j] * x[((n * s.C + c) * s.H + hi) * s.W + wi];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) dw[widx] += acc;
}

__global__ void conv_bwd_bias(float* db, const float* dy, Conv2dShape s) {
  const int k = blockIdx.x, P = s.Ho() * s.Wo();
  float acc = 0.f;
  for (int64_t m = threadIdx.x; m < int64_t(s.N) * P; m += blockDim.x)
    acc += dy[(m / P * s.K + k) * P + m % P];
  acc = block_sum(acc);
  if (threadIdx.x == 0) db[k] += acc;
}
}  // namespace

template <>
void conv2d_forward<float>(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s) {
  const int nw = s.K * s.C * s.R * s.R;
  const std::size_t shared = nw <= kMaxSharedWeights ? sizeof(float) * static_cast<std::size_t>(nw) : 0;
  NL_LAUNCH(conv_fwd, blocks_for(int64_t(s.N) * s.K * s.Ho() * s.Wo()), kThreads, shared, y, x, w, b, s);
}
template <>
void conv2d_backward_data<float>(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  NL_LAUNCH(conv_bwd_data, blocks_for(int64_t(s.N) * s.C * s.H * s.W), kThreads, 0, dx, dy, w, s);
}
template <>
void conv2d_backward_weight<float>(float* dw, float* db, const float* dy, const float* x, const Conv2dShape& s) {
  NL_LAUNCH(conv_bwd_weight, s.K * s.C * s.R * s.R, kReduceThreads, 0, dw, dy, x, s);
  if (db) {
    NL_LAUNCH(conv_bwd_bias, s.K, kReduceThreads, 0, db, dy, s);
  }
}

}  // namespace normlab::cuda
