// CUDA conv2d, direct (no im2col buffer), in five versions (kernels/cuda/versions.h). Math:
// kernels/conv2d.h. Every version is deterministic (no atomics; every sum in a fixed order).
//
// Version 1, the plain one. Forward: one thread per output value, the block's filter bank staged in
// shared memory when it fits. Backward-data: one thread per input value (gathers, no atomics).
// Backward-weight: one block per weight (k, c, r, s), block_sum over (n, i, j); one block per k for
// the bias. Every thread decodes its indices with 64-bit divides.
//
// Version 2, register-tiled. Forward and backward-data are one kernel, conv_tiled: a block owns a
// kTileH x kTileW tile of output positions of one image and kKT output channels; each of its
// threads owns one position and keeps kKT sums in registers. The input channels go kCT at a time:
// the block copies their (kTileH+R-1) x (kTileW+R-1) input patch (zeros outside the image) and
// their kKT x kCT x R x R weights to shared memory, then each thread does kKT*kCT*R*R multiply-adds
// from shared memory, reading each input value once for kKT of them:
//
//   acc[kk] += wt(k0+kk, c0+cc, r, q) * patch[cc][ti + r][tj + q]
//
// The data gradient is that forward convolution of dy, padded by R-1-pad, with the weights
// transposed (K <-> C) and turned by 180 degrees (kFlip). Backward-weight splits the batch into
// S ranges of images: conv_wgrad_partial has one block per (k, c, range) that sums all R*R taps at
// once (each thread R*R sums; dy and x read once per (k, c) instead of once per tap), and the bias
// with the c = 0 blocks; conv_wgrad_finish adds the S partials of each weight in range order.
//
// Version 3: version 2's forward and data gradient; the weight gradient as a GEMM per block (a tile
// of 8 x 8 (k, c) pairs over a range of images, dy and x staged in shared memory band by band), the
// partials added by version 2's second kernel (conv_wgrad_gemm, below).
//
// Version 4: version 3's weight gradient; the forward and data gradient with one thread per output
// position of the flattened batch and a few output channels each, no tiles (conv_direct_v4, below):
// version 2's sums in version 2's order, so its bits.
//
// Version 5: version 4's forward and data gradient; the weight gradient by shape, from the versions
// above (wgrad_v5_pick, below): version 1's where the output is 1 x 1, version 2's where fewer than kCT
// input channels, version 3's elsewhere — each version's bits on its shapes.
#include "kernels/conv2d.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/cuda/versions.h"
#include "core/device.h"

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
// ---- version 2 ------------------------------------------------------------------------------
constexpr int kTileH = 8, kTileW = 16;  // output positions per block: one thread each
constexpr int kKT = 8;                  // output channels per thread (registers)
constexpr int kCT = 8;                  // input channels staged in shared memory at a time
constexpr int kMaxGridZ = 65535;        // images per launch grid (a grid-stride loop beyond)

// One convolution as conv_tiled sees it: Cin channels of Hi x Wi in, Kout channels of Ho x Wo out.
struct TiledShape {
  int N, Cin, Hi, Wi, Kout, Ho, Wo, pad;
};

// The weight for output channel o, input channel i, tap r*R + q. Forward: w is [Kout][Cin][R][R].
// Flipped (the data gradient): w is the forward's [Cin][Kout][R][R] (its K = our Cin), turned.
template <int R, bool kFlip>
__device__ inline float tap_weight(const float* w, int o, int i, int tap, const TiledShape& t) {
  return kFlip ? w[(i * t.Kout + o) * R * R + (R * R - 1 - tap)] : w[(o * t.Cin + i) * R * R + tap];
}

template <int R, bool kFlip>
__global__ void conv_tiled(float* y, const float* x, const float* w, const float* b, TiledShape t) {
  constexpr int PH = kTileH + R - 1, PW = kTileW + R - 1, RR = R * R;
  NL_DYNAMIC_SHARED(float, smem);
  float* patch = smem;                // [kCT][PH][PW]
  float* wsh = smem + kCT * PH * PW;  // [kKT][kCT][RR]
  const int tiles_w = (t.Wo + kTileW - 1) / kTileW;
  const int i0 = int(blockIdx.x) / tiles_w * kTileH, j0 = int(blockIdx.x) % tiles_w * kTileW;
  const int k0 = int(blockIdx.y) * kKT;
  const int ti = int(threadIdx.x) / kTileW, tj = int(threadIdx.x) % kTileW;
  const int nthreads = int(blockDim.x), tid = int(threadIdx.x);
  for (int n = int(blockIdx.z); n < t.N; n += int(gridDim.z)) {
    const float* xn = x + int64_t(n) * t.Cin * t.Hi * t.Wi;
    float acc[kKT];
    for (int kk = 0; kk < kKT; ++kk) acc[kk] = 0.f;
    for (int c0 = 0; c0 < t.Cin; c0 += kCT) {
      __syncthreads();  // every thread is done with the previous channels' patch and weights
      for (int e = tid; e < kCT * PH * PW; e += nthreads) {
        const int cc = e / (PH * PW), pi = e / PW % PH, pj = e % PW;
        const int c = c0 + cc, hi = i0 + pi - t.pad, wi = j0 + pj - t.pad;
        const bool inside = c < t.Cin && hi >= 0 && hi < t.Hi && wi >= 0 && wi < t.Wi;
        patch[e] = inside ? xn[(c * t.Hi + hi) * t.Wi + wi] : 0.f;
      }
      for (int e = tid; e < kKT * kCT * RR; e += nthreads) {
        const int kk = e / (kCT * RR), cc = e / RR % kCT, tap = e % RR;
        const bool real = k0 + kk < t.Kout && c0 + cc < t.Cin;
        wsh[e] = real ? tap_weight<R, kFlip>(w, k0 + kk, c0 + cc, tap, t) : 0.f;
      }
      __syncthreads();
      for (int cc = 0; cc < kCT; ++cc)
        for (int r = 0; r < R; ++r)
          for (int q = 0; q < R; ++q) {
            const float v = patch[(cc * PH + ti + r) * PW + tj + q];
            for (int kk = 0; kk < kKT; ++kk) acc[kk] += wsh[(kk * kCT + cc) * RR + r * R + q] * v;
          }
    }
    const int oi = i0 + ti, oj = j0 + tj;
    if (oi < t.Ho && oj < t.Wo)
      for (int kk = 0; kk < kKT && k0 + kk < t.Kout; ++kk) {
        const int k = k0 + kk;
        y[((int64_t(n) * t.Kout + k) * t.Ho + oi) * t.Wo + oj] = b ? acc[kk] + b[k] : acc[kk];
      }
  }
}

template <int R, bool kFlip>
void launch_tiled(float* y, const float* x, const float* w, const float* b, const TiledShape& t) {
  const int tiles = ((t.Ho + kTileH - 1) / kTileH) * ((t.Wo + kTileW - 1) / kTileW);
  const dim3 grid(tiles, (t.Kout + kKT - 1) / kKT, t.N < kMaxGridZ ? t.N : kMaxGridZ);
  const std::size_t shared = sizeof(float) * (kCT * (kTileH + R - 1) * (kTileW + R - 1) + kKT * kCT * R * R);
  NL_LAUNCH((conv_tiled<R, kFlip>), grid, kTileH * kTileW, shared, y, x, w, b, t);
}

// ---- version 4: forward and data gradient, one thread per output position --------------------
// Version 2's block owns a kTileH x kTileW tile of one image: on the model's small maps most of its
// threads own no output (a 6 x 6 map: 36 of 128; 8 x 8: 64) and each of the others adds kKT
// channels' sums over every input channel in turn, so a layer is a few hundred blocks of long,
// partly idle threads. Here the output positions of all images are one flat range m = (n, i, j)
// cut into blocks of kDirectThreads, so no thread is idle but in the last block; a thread owns one
// position and KT output channels (KT from the shape: as many as keep about kDirectBlocks blocks
// in the grid, 1 on the smallest maps), the block's KT x Cin x R x R weights staged in shared
// memory once, and reads its inputs straight from global memory (neighbouring threads share them
// through L1; no patch, one barrier):
//
//   acc[kk] += wt(k0+kk, c, r, q) * x[n][c][i + r - pad][j + q - pad]     (taps inside the image)
//
// in version 2's order (c ascending, then r, then q; the bias added last), so each output is the
// same sum as version 2's: the taps version 2 adds from its zero padding add exactly +0 there, so
// version 4 gives version 2's bits (tests/test_cuda.cpp, on the emulator). The data gradient is the
// same kernel with version 2's transposed, turned weights (kFlip). 32-bit indices in the loop (the
// host takes version 2's kernel for N*Ho*Wo >= 2^31 or weights over kMaxSharedWeights floats).
constexpr int kDirectThreads = 128;
constexpr int kDirectBlocks = 512;  // about four blocks per SM of an H100; a smaller KT below that

template <int R, bool kFlip, int KT>
__global__ void conv_direct_v4(float* y, const float* x, const float* w, const float* b, TiledShape t) {
  constexpr int RR = R * R;
  NL_DYNAMIC_SHARED(float, wsh);  // [KT][Cin][RR]
  const int k0 = int(blockIdx.y) * KT, cw = t.Cin * RR;
  for (int e = int(threadIdx.x); e < KT * cw; e += int(blockDim.x)) {
    const int kk = e / cw, c = e % cw / RR, tap = e % RR;
    wsh[e] = k0 + kk < t.Kout ? tap_weight<R, kFlip>(w, k0 + kk, c, tap, t) : 0.f;
  }
  __syncthreads();
  const unsigned P = unsigned(t.Ho) * unsigned(t.Wo), total = unsigned(t.N) * P, plane = unsigned(t.Hi * t.Wi);
  for (unsigned m = blockIdx.x * blockDim.x + threadIdx.x; m < total; m += gridDim.x * blockDim.x) {
    const unsigned n = m / P, p = m - n * P;
    const int i = int(p / unsigned(t.Wo)), j = int(p % unsigned(t.Wo));
    const float* xn = x + std::size_t(n) * t.Cin * plane;
    float acc[KT];
    for (int kk = 0; kk < KT; ++kk) acc[kk] = 0.f;
    for (int c = 0; c < t.Cin; ++c) {
      const float* xc = xn + std::size_t(c) * plane;
      for (int r = 0; r < R; ++r) {
        const int hi = i + r - t.pad;
        if (hi < 0 || hi >= t.Hi) continue;
        for (int q = 0; q < R; ++q) {
          const int wi = j + q - t.pad;
          if (wi < 0 || wi >= t.Wi) continue;
          const float v = __ldg(xc + hi * t.Wi + wi);
          for (int kk = 0; kk < KT; ++kk) acc[kk] += wsh[(kk * t.Cin + c) * RR + r * R + q] * v;
        }
      }
    }
    float* yn = y + (std::size_t(n) * t.Kout + k0) * P + p;
    for (int kk = 0; kk < KT && k0 + kk < t.Kout; ++kk) yn[std::size_t(kk) * P] = b ? acc[kk] + b[k0 + kk] : acc[kk];
  }
}

// Output channels per thread: the largest of 8, 4, 2 that still gives about kDirectBlocks blocks
// and is under twice the channels (no thread keeps more empty sums than real ones), else 1. The
// shape alone decides it, and no sum depends on it. The model at batch 128 (forward): 8 on the
// 28 x 28, 26 x 26 and 24 x 24 maps, 2 on 12 x 12 and 10 x 10, 1 from 8 x 8 down.
int direct_kt(const TiledShape& t) {
  const int64_t pos_blocks = (int64_t(t.N) * t.Ho * t.Wo + kDirectThreads - 1) / kDirectThreads;
  for (int kt : {8, 4, 2})
    if (kt < 2 * t.Kout && pos_blocks * ((t.Kout + kt - 1) / kt) >= kDirectBlocks) return kt;
  return 1;
}

template <int R, bool kFlip, int KT>
void launch_direct_kt(float* y, const float* x, const float* w, const float* b, const TiledShape& t) {
  const dim3 grid(blocks_for(int64_t(t.N) * t.Ho * t.Wo, kDirectThreads), (t.Kout + KT - 1) / KT);
  const std::size_t shared = sizeof(float) * std::size_t(KT) * t.Cin * R * R;
  NL_LAUNCH((conv_direct_v4<R, kFlip, KT>), grid, kDirectThreads, shared, y, x, w, b, t);
}

// Version 4 where it applies (32-bit positions, the weights in shared memory), else version 2's.
template <int R, bool kFlip>
void launch_direct(float* y, const float* x, const float* w, const float* b, const TiledShape& t) {
  const int kt = direct_kt(t);
  if (int64_t(t.N) * t.Ho * t.Wo >= (int64_t(1) << 31) || int64_t(kt) * t.Cin * R * R > kMaxSharedWeights)
    return launch_tiled<R, kFlip>(y, x, w, b, t);
  switch (kt) {
    case 8: return launch_direct_kt<R, kFlip, 8>(y, x, w, b, t);
    case 4: return launch_direct_kt<R, kFlip, 4>(y, x, w, b, t);
    case 2: return launch_direct_kt<R, kFlip, 2>(y, x, w, b, t);
    default: return launch_direct_kt<R, kFlip, 1>(y, x, w, b, t);
  }
}

// Partial weight (and bias) gradients of images [range * per, range * per + per) for one (k, c):
// part[(range * K + k) * C + c][tap], and partb[range * K + k] from the blocks with c = 0.
template <int R>
__global__ void conv_wgrad_partial(float* part, float* partb, const float* dy, const float* x, Conv2dShape s, int per) {
  constexpr int RR = R * R;
  const int kc = int(blockIdx.x), k = kc / s.C, c = kc % s.C, range = int(blockIdx.y);
  const int Ho = s.Ho(), Wo = s.Wo(), P = Ho * Wo;
  const int n0 = range * per, n1 = n0 + per < s.N ? n0 + per : s.N;
  float acc[RR], accb = 0.f;
  for (int tap = 0; tap < RR; ++tap) acc[tap] = 0.f;
  for (int n = n0; n < n1; ++n) {
    const float* dyn = dy + (int64_t(n) * s.K + k) * P;
    const float* xn = x + (int64_t(n) * s.C + c) * s.H * s.W;
    for (int m = int(threadIdx.x); m < P; m += int(blockDim.x)) {
      const int i = m / Wo, j = m % Wo;
      const float g = dyn[m];
      accb += g;
      for (int r = 0; r < R; ++r)
        for (int q = 0; q < R; ++q) {
          const int hi = i + r - s.pad, wi = j + q - s.pad;
          if (hi >= 0 && hi < s.H && wi >= 0 && wi < s.W) acc[r * R + q] += g * xn[hi * s.W + wi];
        }
    }
  }
  // The RR tap sums and the bias sum reduced together: a tree over the block's threads in shared
  // memory, log2(kThreads) + 1 barriers for all of them (RR + 1 block_sums would take 2 barriers
  // and 10 shuffles each, 20 and 100 for a 3x3 — and on the CPU emulator, where every barrier and
  // shuffle is a switch of each thread, most of the weight gradient's time).
  // Launched with kThreads (a power of two) threads per block.
  NL_SHARED(float, red, (RR + 1) * kThreads);
  const int t = int(threadIdx.x);
  for (int tap = 0; tap < RR; ++tap) red[tap * kThreads + t] = acc[tap];
  red[RR * kThreads + t] = accb;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h >>= 1) {
    if (t < h)
      for (int v = 0; v <= RR; ++v) red[v * kThreads + t] += red[v * kThreads + t + h];
    __syncthreads();
  }
  float* out = part + (int64_t(range) * s.K * s.C + kc) * RR;
  if (t < RR) out[t] = red[t * kThreads];
  if (c == 0 && t == RR) partb[range * s.K + k] = red[RR * kThreads];
}

// dw[e] += sum over ranges of part[range][e] (in range order); db[k] likewise from partb.
__global__ void conv_wgrad_finish(float* dw, float* db, const float* part, const float* partb, int nw, int K,
                                  int ranges) {
  NL_GRID_LOOP(e, int64_t(nw) + (db ? K : 0)) {
    const bool bias = e >= nw;
    const int idx = int(bias ? e - nw : e), stride = bias ? K : nw;
    const float* src = bias ? partb : part;
    float sum = 0.f;
    for (int r = 0; r < ranges; ++r) sum += src[int64_t(r) * stride + idx];
    (bias ? db : dw)[idx] += sum;
  }
}

// Images per range: enough ranges that the grid has about kWgradBlocks blocks, at least one image
// each. Depends on the shape only, so the sums' order (and the bits) do not depend on the GPU.
constexpr int kWgradBlocks = 1024;
int images_per_range(const Conv2dShape& s) { return int(split_ranges(s.N, int64_t(s.K) * s.C, kWgradBlocks, s.N).per); }

// The weight gradient's two stages, shared by versions 2 and 3: partial(part, partb) launches the
// kernel that writes each of the `ranges` ranges' partial sums (part[range][k][c][tap],
// partb[range][k]); conv_wgrad_finish adds them in range order.
template <class Partial>
void wgrad_two_stage(float* dw, float* db, const Conv2dShape& s, int ranges, Partial&& partial) {
  const int nw = s.K * s.C * s.R * s.R;
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * (std::size_t(ranges) * nw + std::size_t(ranges) * s.K)));
  float* partb = part + std::size_t(ranges) * nw;
  partial(part, partb);
  NL_LAUNCH(conv_wgrad_finish, blocks_for(nw + s.K), kThreads, 0, dw, db, part, partb, nw, s.K, ranges);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these two
}

template <int R>
void wgrad_v2(float* dw, float* db, const float* dy, const float* x, const Conv2dShape& s) {
  const int per = images_per_range(s), ranges = (s.N + per - 1) / per;
  wgrad_two_stage(dw, db, s, ranges, [&](float* part, float* partb) {
    NL_LAUNCH(conv_wgrad_partial<R>, dim3(s.K * s.C, ranges), kThreads, 0, part, partb, dy, x, s, per);
  });
}

// ---- version 3: the weight gradient as a small GEMM per block ------------------------------------
// dw[k][c*RR + tap] = sum over m = (n, i, j) of dy[n,k,i,j] * x[n,c, i+r-pad, j+q-pad]: a GEMM of
// K x (C*R*R) with a reduction over all N*Ho*Wo output positions. Version 2 gives each (k, c) its own
// block, so dy is read from L2 once per input channel and x once per output channel. Here a block
// owns a tile of kKT output x kCT input channels and a range of images, and walks its images in
// bands of at most kBandPos output positions (kBandW wide): it copies the band's dy (kKT channels)
// and the x values under it (kCT channels, R-1 more rows and columns, zeros outside the image) to
// shared memory once, then each thread, owning one (k, c) pair and one slice of the band's
// positions (position p goes to slice p % slices), adds dy * x into its R*R tap sums in registers:
//
//   acc[r*R + q] += dys[kk][p] * xs[cc][pi + r][pj + q]        (the bias: accb += dys[kk][p])
//
// The slices' sums are then added in slice order, and conv_wgrad_finish adds the ranges' partials
// in range order, as in version 2: deterministic, no atomics.
constexpr int kBandPos = 128;  // output positions per band at most
constexpr int kBandW = 32;     // band width at most; a wider map goes in column tiles
// Shared-memory row strides, odd so that the 8 channels a warp reads side by side fall in 8
// different banks. An x band of th x tw positions needs (th + R - 1) * (tw + R - 1) <= 128 + 256/tw
// + 2 tw + 4 <= 390 values for th * tw <= 128, R <= 3.
constexpr int kDyStride = kBandPos + 1, kXStride = 391;
constexpr int kWgradV3Blocks = 256;  // about two blocks per SM of an H100

struct Band {
  int th, tw;  // band height and width (th * tw <= kBandPos, tw <= kBandW)
};

template <int R>
__global__ void conv_wgrad_gemm(float* part, float* partb, const float* dy, const float* x, Conv2dShape s, Band b,
                                int per) {
  constexpr int RR = R * R;
  NL_SHARED(float, dys, kKT * kDyStride);
  NL_SHARED(float, xs, kCT * kXStride);
  NL_SHARED(float, red, (RR + 1) * kThreads);
  const int ctiles = (s.C + kCT - 1) / kCT;
  const int k0 = int(blockIdx.x) / ctiles * kKT, c0 = int(blockIdx.x) % ctiles * kCT;
  const int kn = s.K - k0 < kKT ? s.K - k0 : kKT, cn = s.C - c0 < kCT ? s.C - c0 : kCT;
  const int pairs = kn * cn, slices = kThreads / pairs;  // launched with kThreads threads
  const int t = int(threadIdx.x), pair = t % pairs, slice = t / pairs;
  const int kk = pair / cn, cc = pair % cn;
  const int range = int(blockIdx.y), n0 = range * per, n1 = n0 + per < s.N ? n0 + per : s.N;
  const int Ho = s.Ho(), Wo = s.Wo();
  float acc[RR], accb = 0.f;
  for (int v = 0; v < RR; ++v) acc[v] = 0.f;
  for (int n = n0; n < n1; ++n)
    for (int i0 = 0; i0 < Ho; i0 += b.th)
      for (int j0 = 0; j0 < Wo; j0 += b.tw) {
        const int th = Ho - i0 < b.th ? Ho - i0 : b.th, tw = Wo - j0 < b.tw ? Wo - j0 : b.tw, np = th * tw;
        const int xw = tw + R - 1, nx = (th + R - 1) * xw;
        __syncthreads();  // every thread is done with the previous band
        for (int e = t; e < kn * np; e += kThreads) {
          const int ch = e / np, p = e % np;
          dys[ch * kDyStride + p] = dy[((int64_t(n) * s.K + k0 + ch) * Ho + i0 + p / tw) * Wo + j0 + p % tw];
        }
        for (int e = t; e < cn * nx; e += kThreads) {
          const int ch = e / nx, pi = e % nx / xw, pj = e % xw;
          const int hi = i0 + pi - s.pad, wi = j0 + pj - s.pad;
          const bool inside = hi >= 0 && hi < s.H && wi >= 0 && wi < s.W;
          xs[ch * kXStride + pi * xw + pj] = inside ? x[((int64_t(n) * s.C + c0 + ch) * s.H + hi) * s.W + wi] : 0.f;
        }
        __syncthreads();
        if (slice < slices)
          for (int p = slice; p < np; p += slices) {
            const float g = dys[kk * kDyStride + p];
            const float* xp = xs + cc * kXStride + p / tw * xw + p % tw;
            accb += g;
            for (int r = 0; r < R; ++r)
              for (int q = 0; q < R; ++q) acc[r * R + q] += g * xp[r * xw + q];
          }
      }
  // The slices' sums, added in slice order by one thread per (pair, tap or bias).
  for (int v = 0; v < RR; ++v) red[v * kThreads + t] = acc[v];
  red[RR * kThreads + t] = accb;
  __syncthreads();
  for (int e = t; e < pairs * (RR + 1); e += kThreads) {
    const int pr = e % pairs, v = e / pairs;
    float sum = 0.f;
    for (int sl = 0; sl < slices; ++sl) sum += red[v * kThreads + sl * pairs + pr];
    const int k = k0 + pr / cn, c = c0 + pr % cn;
    if (v < RR)
      part[((int64_t(range) * s.K + k) * s.C + c) * RR + v] = sum;
    else if (c == 0)
      partb[range * s.K + k] = sum;
  }
}

// The band: the full width up to kBandW, as many rows as fit kBandPos positions.
Band band_for(const Conv2dShape& s) {
  const int tw = s.Wo() < kBandW ? s.Wo() : kBandW, rows = kBandPos / tw;
  return {s.Ho() < rows ? s.Ho() : rows, tw};
}

template <int R>
void wgrad_v3(float* dw, float* db, const float* dy, const float* x, const Conv2dShape& s) {
  const int tiles = ((s.K + kKT - 1) / kKT) * ((s.C + kCT - 1) / kCT);
  const int per = int(split_ranges(s.N, tiles, kWgradV3Blocks, s.N).per), ranges = (s.N + per - 1) / per;
  wgrad_two_stage(dw, db, s, ranges, [&](float* part, float* partb) {
    NL_LAUNCH(conv_wgrad_gemm<R>, dim3(tiles, ranges), kThreads, 0, part, partb, dy, x, s, band_for(s), per);
  });
}

bool use_v2() { return kernel_version("conv2d") >= 2; }

// The weight gradient of version v = 1, 2 or 3 (and up: version 4's is version 3's).
void wgrad(int v, float* dw, float* db, const float* dy, const float* x, const Conv2dShape& s) {
  if (v >= 3) return s.R == 3 ? wgrad_v3<3>(dw, db, dy, x, s) : wgrad_v3<1>(dw, db, dy, x, s);
  if (v == 2) return s.R == 3 ? wgrad_v2<3>(dw, db, dy, x, s) : wgrad_v2<1>(dw, db, dy, x, s);
  NL_LAUNCH(conv_bwd_weight, s.K * s.C * s.R * s.R, kReduceThreads, 0, dw, dy, x, s);
  if (db) NL_LAUNCH(conv_bwd_bias, s.K, kReduceThreads, 0, db, dy, s);
}

// Version 5's weight gradient: the version that run 4 (H200, docs/results-gpu.md) timed fastest on
// the shape. A 1 x 1 output (the head, after the global average pool): version 1's one block per
// weight, one launch (5.2 us against version 3's 12.4 and cuDNN's 4.9) — the work is a 128-long dot
// product per weight, and version 3's bands and second stage cost more than it. Fewer input channels
// than version 3's tile takes (kCT: the first layer's one): version 2's block per (k, c, range)
// (21.7 us against version 3's 32.2; only C = 1 was timed). Else version 3.
int wgrad_v5_pick(const Conv2dShape& s) {
  if (s.Ho() * s.Wo() == 1) return 1;
  return s.C < kCT ? 2 : 3;
}
}  // namespace

template <>
void conv2d_forward<float>(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s) {
  if (kernel_version("conv2d") >= 4) {
    const TiledShape t{s.N, s.C, s.H, s.W, s.K, s.Ho(), s.Wo(), s.pad};
    return s.R == 3 ? launch_direct<3, false>(y, x, w, b, t) : launch_direct<1, false>(y, x, w, b, t);
  }
  if (use_v2()) {
    const TiledShape t{s.N, s.C, s.H, s.W, s.K, s.Ho(), s.Wo(), s.pad};
    return s.R == 3 ? launch_tiled<3, false>(y, x, w, b, t) : launch_tiled<1, false>(y, x, w, b, t);
  }
  const int nw = s.K * s.C * s.R * s.R;
  const std::size_t shared = nw <= kMaxSharedWeights ? sizeof(float) * static_cast<std::size_t>(nw) : 0;
  NL_LAUNCH(conv_fwd, blocks_for(int64_t(s.N) * s.K * s.Ho() * s.Wo()), kThreads, shared, y, x, w, b, s);
}
template <>
void conv2d_backward_data<float>(float* dx, const float* dy, const float* w, const Conv2dShape& s) {
  if (use_v2()) {  // dy (K channels, Ho x Wo) padded by R-1-pad, weights transposed and turned
    const TiledShape t{s.N, s.K, s.Ho(), s.Wo(), s.C, s.H, s.W, s.R - 1 - s.pad};
    if (kernel_version("conv2d") >= 4)
      return s.R == 3 ? launch_direct<3, true>(dx, dy, w, nullptr, t) : launch_direct<1, true>(dx, dy, w, nullptr, t);
    return s.R == 3 ? launch_tiled<3, true>(dx, dy, w, nullptr, t) : launch_tiled<1, true>(dx, dy, w, nullptr, t);
  }
  NL_LAUNCH(conv_bwd_data, blocks_for(int64_t(s.N) * s.C * s.H * s.W), kThreads, 0, dx, dy, w, s);
}
template <>
void conv2d_backward_weight<float>(float* dw, float* db, const float* dy, const float* x, const Conv2dShape& s) {
  const int v = kernel_version("conv2d");
  wgrad(v == 5 ? wgrad_v5_pick(s) : v, dw, db, dy, x, s);
}

}  // namespace normlab::cuda
