// A direct 3x3 convolution of one image, for kernels/cpu/conv2d.cpp (private to kernels/cpu/).
// It replaces im2col + GEMM where the channel counts are small: im2col copies every input value
// nine times and the GEMM then packs that copy again, which cost more than the multiply-adds.
//
// The trick ("wide" output): copy the image, zero-padded, into a buffer of Hp x Wp planes. For a
// fixed tap (r, q) the inputs of the outputs at flat positions p = i*Wp + j are the contiguous
// run src[p + r*Wp + q]: so the output is computed at every flat position p of the padded grid,
// V consecutive positions at a time (one SIMD vector: 16 floats or 8 doubles), and the Wp - Wo
// positions past each row's end, which wrap into the next row, are computed and thrown away.
// A block of KB output channels keeps KB vectors of sums in registers; per tap and input channel
// it loads one vector of inputs and does KB broadcast multiply-adds:
//
//   for p0 in steps of V:  acc[k][v] = sum_{c, r, q} w[k, c, r, q] * src[c, p0 + v + r*Wp + q]
//
// Sums run in T, in (c, r, q) order: each image's result is independent of the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

namespace normlab::cpu::direct {

template <typename T>
constexpr int kVector = 64 / static_cast<int>(sizeof(T));  // positions per SIMD vector (AVX-512)

// acc[k][v] over a block of KB output channels at positions p0 .. p0 + NV*V - 1, written to out
// rows k (stride ldo). wt holds the block's weights as [C][9][KB]. KB*NV = 16 vectors of sums:
// enough independent multiply-adds in flight to keep both FMA units busy.
template <typename T, int KB, int NV>
void block(T* out, int64_t ldo, const T* src, int C, int64_t plane, int Wp, const T* wt, int p0) {
  constexpr int W = NV * kVector<T>;
  T acc[KB][W] = {};
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < 3; ++r)
      for (int q = 0; q < 3; ++q) {
        const T* xp = src + c * plane + r * Wp + q + p0;
        const T* wp = wt + ((c * 3 + r) * 3 + q) * KB;
#pragma GCC unroll 16
        for (int k = 0; k < KB; ++k)
#pragma omp simd
          for (int v = 0; v < W; ++v) acc[k][v] += wp[k] * xp[v];
      }
#pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
#pragma omp simd
    for (int v = 0; v < W; ++v) out[k * ldo + p0 + v] = acc[k][v];
}

// The weight gradient of one (tall) image, a KB-channel block, kept per SIMD lane:
// dwl[k, c, r*3 + q, v] += sum_{p = v mod V} dyw[k, p] * src[c, p + r*Wp + q] over the wide
// positions p (dyw is 0 at the thrown-away ones). Per input channel and kernel row it keeps
// KB x 3 vectors of sums (the three taps q share their input loads). The lanes are added only
// once per call of the kernel (sum_lanes): adding 16 lanes per image would cost more than the
// multiply-adds of the small layers.
template <typename T, int KB>
void weight_block(T* dwl, int64_t ldw, const T* dyw, int64_t ldy, const T* src, int C, int64_t plane, int Wp, int Lr) {
  constexpr int V = kVector<T>;
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < 3; ++r) {
      T acc[KB][3][V] = {};
      const T* xp = src + c * plane + r * Wp;
      for (int p0 = 0; p0 < Lr; p0 += V)
#pragma GCC unroll 16
        for (int k = 0; k < KB; ++k)
#pragma GCC unroll 3
          for (int q = 0; q < 3; ++q)
#pragma omp simd
            for (int v = 0; v < V; ++v) acc[k][q][v] += dyw[k * ldy + p0 + v] * xp[p0 + q + v];
      for (int k = 0; k < KB; ++k)
        for (int q = 0; q < 3; ++q) {
          T* d = dwl + k * ldw + ((c * 3 + r) * 3 + q) * V;
#pragma omp simd
          for (int v = 0; v < V; ++v) d[v] += acc[k][q][v];
        }
    }
}

// Weights repacked for the forward kernel: per block of KB output channels (16, then 8, 4, 1),
// [C][tap][KB]. `at(k, c, tap)` gives w for output channel k, input channel c, tap r*3 + q.
template <typename T>
struct Packed {
  std::vector<T> w;
  std::vector<int> block_start, block_size;
};

template <typename T, typename At>
Packed<T> pack(int K, int C, At at) {
  Packed<T> p;
  for (int k0 = 0; k0 < K;) {
    const int kb = K - k0 >= 16 ? 16 : K - k0 >= 8 ? 8 : K - k0 >= 4 ? 4 : 1;
    p.block_start.push_back(static_cast<int>(p.w.size()));
    p.block_size.push_back(kb);
    for (int c = 0; c < C; ++c)
      for (int tap = 0; tap < 9; ++tap)
        for (int k = 0; k < kb; ++k) p.w.push_back(at(k0 + k, c, tap));
    k0 += kb;
  }
  return p;
}

// Memory on 64-byte boundaries, so that a SIMD vector at a multiple of V positions is one cache
// line: from plain std::vector (16-byte aligned), most of the weight gradient's loads of dy
// straddled two lines.
template <typename T>
struct Aligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  Aligned() = default;
  template <typename U>
  Aligned(const Aligned<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const Aligned<U>&) const { return true; }
};
template <typename T>
using Buffer = std::vector<T, Aligned<T>>;

// One thread's buffers: the padded input planes (plus a vector of slack that the last block reads
// past the end) and the wide output or wide dy.
template <typename T>
struct Scratch {
  Buffer<T> src, wide;
};

// The padded grid of one image: Hp x Wp planes, outputs at the first Wo of every Wp positions.
struct Grid {
  int Hp, Wp, Ho, Wo;
  int64_t plane;
  int L, Lr;  // flat positions that hold outputs; that rounded up to whole vectors
  template <typename T>
  static Grid of(int H, int W, int pad) {
    constexpr int V = kVector<T>;
    Grid g{H + 2 * pad, W + 2 * pad, H + 2 * pad - 2, W + 2 * pad - 2, 0, 0, 0};
    g.plane = static_cast<int64_t>(g.Hp) * g.Wp;
    g.L = (g.Ho - 1) * g.Wp + g.Wo;
    g.Lr = (g.L + V - 1) / V * V;
    return g;
  }
};

// n values from src to dst. A plain loop: for rows of 6-28 values a memcpy call costs more.
template <typename T>
void copy(T* dst, const T* src, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

// A buffer of n values that are zero wherever the copies below never write (the padding, the
// slack, the thrown-away positions): zeroed when it is (re)sized, which is once per call of a
// kernel, as every image of the call has the same grid.
template <typename T>
T* zero_once(Buffer<T>& v, std::size_t n) {
  if (v.size() != n) v.assign(n, T(0));
  return v.data();
}

// s.src = x [C, H, W] zero-padded by `pad` into the grid's planes, and V zeros of slack (the last
// vector reads up to V - 1 values past the last plane).
template <typename T>
void load_padded(Scratch<T>& s, const T* x, int C, int H, int W, int pad, const Grid& g) {
  T* src = zero_once(s.src, static_cast<std::size_t>(C * g.plane + kVector<T>));
  if (pad == 0) return copy(src, x, static_cast<int>(C * g.plane));  // the planes are the image itself
  for (int c = 0; c < C; ++c)
    for (int h = 0; h < H; ++h) copy(src + c * g.plane + (h + pad) * g.Wp + pad, x + (static_cast<int64_t>(c) * H + h) * W, W);
}

// y[k, i, j] = sum_{c, r, q} w(k, c, r*3+q) * x[c, i+r-pad, j+q-pad] for one image, x: [C, H, W],
// y: [K, H+2pad-2, W+2pad-2] (ASSIGNED), x = 0 outside the image.
template <typename T>
void conv(T* y, const T* x, int C, int H, int W, int pad, int K, const Packed<T>& wt, Scratch<T>& s) {
  constexpr int V = kVector<T>;
  const Grid g = Grid::of<T>(H, W, pad);
  load_padded(s, x, C, H, W, pad, g);
  s.wide.resize(static_cast<std::size_t>(K) * g.Lr);
  int k0 = 0;
  for (std::size_t b = 0; b < wt.block_size.size(); ++b) {
    const int kb = wt.block_size[b];
    const T* wb = wt.w.data() + wt.block_start[b];
    T* out = s.wide.data() + static_cast<int64_t>(k0) * g.Lr;
    const T* src = s.src.data();
    if (kb == 16)
      for (int p0 = 0; p0 < g.Lr; p0 += V) block<T, 16, 1>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
    else {  // fewer channels: two vectors of positions per block, then a last single one
      int p0 = 0;
      for (; p0 + 2 * V <= g.Lr; p0 += 2 * V) {
        if (kb == 8) block<T, 8, 2>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
        else if (kb == 4) block<T, 4, 2>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
        else block<T, 1, 2>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
      }
      if (p0 < g.Lr) {
        if (kb == 8) block<T, 8, 1>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
        else if (kb == 4) block<T, 4, 1>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
        else block<T, 1, 1>(out, g.Lr, src, C, g.plane, g.Wp, wb, p0);
      }
    }
    k0 += kb;
  }
  for (int k = 0; k < K; ++k)  // keep the first Wo of every Wp positions
    for (int i = 0; i < g.Ho; ++i)
      copy(y + (static_cast<int64_t>(k) * g.Ho + i) * g.Wo, &s.wide[static_cast<int64_t>(k) * g.Lr + i * g.Wp], g.Wo);
}

// conv() of N images, one per OpenMP iteration, each thread with its own scratch; then + bias[k]
// on output channel k when bias is given. x: [N, C, H, W], y: [N, K, H+2pad-2, W+2pad-2].
template <typename T>
void conv_images(T* y, const T* x, int N, int C, int H, int W, int pad, int K, const Packed<T>& wt, const T* bias) {
  const int64_t P = static_cast<int64_t>(H + 2 * pad - 2) * (W + 2 * pad - 2);
  const int64_t xs = static_cast<int64_t>(C) * H * W, ys = K * P;
#pragma omp parallel
  {
    Scratch<T> scratch;
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      conv(y + n * ys, x + n * xs, C, H, W, pad, K, wt, scratch);
      if (bias)
        for (int k = 0; k < K; ++k)
          for (int64_t p = 0; p < P; ++p) y[n * ys + k * P + p] += bias[k];
    }
  }
}

// The weight gradient's lanes: dwl[k, c, r*3+q, v] accumulates lane v of
// sum_{b, i, j} dy[b, k, i, j] * x[b, c, i+r-pad, j+q-pad] over B images; dwl is [K][C][9][V]
// (lanes() values), dy [B, K, Ho, Wo], x [B, C, H, W]. sum_lanes turns it into dw [K][C][3][3].
template <typename T>
std::size_t lanes(int K, int C) {
  return static_cast<std::size_t>(K) * C * 9 * kVector<T>;
}

template <typename T>
void sum_lanes(T* dw, const T* dwl, int K, int C) {  // dw += the lanes, added in order
  for (int64_t e = 0; e < static_cast<int64_t>(K) * C * 9; ++e) {
    T sum = 0;
    for (int v = 0; v < kVector<T>; ++v) sum += dwl[e * kVector<T> + v];
    dw[e] += sum;
  }
}

// Images per weight_grad call: as many as keep their padded planes and wide dy (about
// sizeof(T) * (C + K) * plane bytes each) within 256 KiB, at most 16. Measured on the network's
// seven 3x3 layers (batch 128, 2 threads): budgets of 256 KiB to 1 MiB 2.09-2.19 ms per step,
// 64-128 KiB 2.20-2.40 ms, one image per call (a budget of 0) 2.48-2.54 ms.
template <typename T>
int weight_grad_images(int C, int K, int H, int W, int pad) {
  const int64_t bytes = static_cast<int64_t>(sizeof(T)) * (C + K) * (H + 2 * pad) * (W + 2 * pad);
  return static_cast<int>(std::clamp<int64_t>((256 << 10) / bytes, 1, 16));
}

// The B images are laid end to end as one tall image per channel (B planes of Hp x Wp in a
// row), so each (channel, kernel row) is one long run of positions and its sums are written to
// dwl once per B images, not once per image. dy is 0 at every position that holds no output
// (the Wp - Wo wrapped ones, the last two rows of each plane, the rounding), so the positions
// between images add nothing.
template <typename T>
void weight_grad(T* dwl, const T* dy, const T* x, int B, int C, int H, int W, int pad, int K, Scratch<T>& s) {
  constexpr int V = kVector<T>;
  const Grid g = Grid::of<T>(H, W, pad);
  const int Lt = static_cast<int>((B * g.plane + V - 1) / V * V);  // positions of the tall image
  const int64_t cs = Lt + 2 * g.Wp + 2;                            // a channel's stride: slack for the taps
  T* src = zero_once(s.src, static_cast<std::size_t>(C * cs));
  T* dyw = zero_once(s.wide, static_cast<std::size_t>(K) * Lt);
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H; ++h)
        copy(src + c * cs + b * g.plane + (h + pad) * g.Wp + pad,
             x + ((static_cast<int64_t>(b) * C + c) * H + h) * W, W);
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < K; ++k)
      for (int i = 0; i < g.Ho; ++i)
        copy(dyw + k * static_cast<int64_t>(Lt) + b * g.plane + i * g.Wp,
             dy + ((static_cast<int64_t>(b) * K + k) * g.Ho + i) * g.Wo, g.Wo);
  const int64_t ldw = static_cast<int64_t>(C) * 9 * V;
  for (int k0 = 0; k0 < K;) {
    const int kb = K - k0 >= 8 ? 8 : K - k0 >= 4 ? 4 : 1;
    T* d = dwl + k0 * ldw;
    const T* dyk = dyw + static_cast<int64_t>(k0) * Lt;
    if (kb == 8) weight_block<T, 8>(d, ldw, dyk, Lt, src, C, cs, g.Wp, Lt);
    else if (kb == 4) weight_block<T, 4>(d, ldw, dyk, Lt, src, C, cs, g.Wp, Lt);
    else weight_block<T, 1>(d, ldw, dyk, Lt, src, C, cs, g.Wp, Lt);
    k0 += kb;
  }
}

}  // namespace normlab::cpu::direct
