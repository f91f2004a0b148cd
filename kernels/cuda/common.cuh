// Shared pieces of the CUDA kernels: launch sizes and warp/block reductions.
//
// Reductions are warp shuffles (__shfl_xor_sync) inside a warp, then one shared-memory slot per warp
// inside a block. No reduction ever crosses blocks with __syncthreads(): a quantity reduced over
// more than one block is written as per-block partials and combined in a fixed order — by a later
// kernel, or (batch norm's version 6, kernels/cuda/pipeline.cuh) by the block that wrote the last
// partial — so results are deterministic.
//
// Every launch goes through NL_LAUNCH(kernel, grid, block, shared_bytes, args...): `<<<>>>` under
// nvcc, the emulator's launch in an emulation build (NORMLAB_CUDA_EMULATE, core/emu/cuda_emu.h),
// and in both the one launch check. Shared memory is declared with NL_SHARED(T, name, count)
// (static) and NL_DYNAMIC_SHARED(T, name) (the launch's shared_bytes), so that the emulator can
// give every block its own copy, filled with NaN. Kernels are otherwise plain CUDA.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/cuda_check.h"

#ifdef NORMLAB_CUDA_EMULATE
#define NL_SHARED(T, name, count)                 \
  static const char nl_shared_key_##name = 0;     \
  T* const name = static_cast<T*>(::normlab::emu::block_shared(&nl_shared_key_##name, sizeof(T) * (count), #name))
#define NL_DYNAMIC_SHARED(T, name) T* const name = static_cast<T*>(::normlab::emu::dynamic_shared())
#else
#define NL_SHARED(T, name, count) __shared__ T name[count]
#define NL_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

// A loop whose trip count is a template constant, unrolled, so that an array indexed by its counter
// stays in registers (batch norm's version 9); the emulator runs it as written.
#ifdef NORMLAB_CUDA_EMULATE
#define NL_UNROLL
#else
#define NL_UNROLL _Pragma("unroll")
#endif

#define NL_LAUNCH(kernel, grid, block, shared_bytes, ...) \
  ::normlab::cuda::launch(#kernel, kernel, grid, block, shared_bytes, __VA_ARGS__)

namespace normlab::cuda {

// Launches kernel(args...) converted to its parameter types on cuda_stream(), then checks the launch (and, with
// NORMLAB_CUDA_SYNC=1, waits for the kernel so that a fault is reported here).
template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes, A... args) {
#ifdef NORMLAB_CUDA_EMULATE
  ::normlab::emu::launch(name, kernel, grid, block, shared_bytes, cuda_stream(), args...);
#else
  kernel<<<grid, block, shared_bytes, cuda_stream()>>>(static_cast<P>(args)...);
#endif
  check_launch(name);
}

constexpr int kThreads = 256;  // default block size for element-wise kernels
constexpr int kReduceThreads = 512;
constexpr int kWarp = 32;  // threads per warp (the shuffles below assume it)

inline int blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

// A reduction over n items cut into ranges for a two-stage reduction (one block per range writes a
// partial, a second kernel combines the partials in range order): about `blocks` blocks in all when
// `others` such reductions run side by side, never more than `most` ranges. It depends on the sizes
// only, so the order of the sums, and the bits, do not depend on the GPU.
struct Split {
  int64_t per;    // items per range
  int64_t count;  // ranges; the last one may hold fewer than per items
  __host__ __device__ int64_t size(int64_t r, int64_t n) const { return (r + 1) * per < n ? per : n - r * per; }
};

inline Split split_ranges(int64_t n, int64_t others, int64_t blocks, int64_t most) {
  const int64_t want = (blocks + others - 1) / others;
  const int64_t count = want < most ? want : most;
  const int64_t per = (n + count - 1) / count;
  return {per, (n + per - 1) / per};
}

// Chan et al.'s combine of per-range partials (mean mu_r, M2_r = sum (x - mu_r)^2) into the whole's
// mean = sum m_r mu_r / M and M2 = sum M2_r + m_r (mu_r - mean)^2, in range order. Range r of the n
// items of `sp` holds m_r = sp.size(r, n) * unit values; its pair is part[r * stride], part[r * stride + 1].
struct MeanM2 {
  float mean, m2;
};
__device__ inline MeanM2 combine_mean_m2(const float* part, int64_t stride, const Split& sp, int64_t n, int64_t unit) {
  float mu = 0.f;
  for (int64_t r = 0; r < sp.count; ++r) mu += float(sp.size(r, n) * unit) * part[r * stride];
  mu /= float(n) * float(unit);
  float m2 = 0.f;
  for (int64_t r = 0; r < sp.count; ++r) {
    const float d = part[r * stride] - mu;
    m2 += part[r * stride + 1] + float(sp.size(r, n) * unit) * d * d;
  }
  return {mu, m2};
}

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ inline T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block; every thread gets the result. blockDim.x must be a multiple of 32.
template <typename T>
__device__ inline T block_sum(T v) {
  NL_SHARED(T, slots, 32);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // slots may still be read by a previous call
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  v = lane < warps ? slots[lane] : T(0);
  return warp_sum(v);
}

}  // namespace normlab::cuda
