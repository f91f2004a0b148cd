// Shared pieces of the CUDA kernels: launch sizes and warp/block reductions.
//
// Reductions are warp shuffles (__shfl_xor_sync) inside a warp, then one shared-memory slot per warp
// inside a block. No reduction ever crosses blocks with __syncthreads(): a quantity reduced over
// more than one block is written as per-block partials and combined by a later kernel, in a fixed
// order, so results are deterministic.
#pragma once
#include <cstdint>

#include "core/cuda_check.h"

namespace normlab::cuda {

constexpr int kThreads = 256;  // default block size for element-wise kernels
constexpr int kReduceThreads = 512;

inline int blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
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
  __shared__ T slots[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // slots may still be read by a previous call
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  v = lane < warps ? slots[lane] : T(0);
  return warp_sum(v);
}

}  // namespace normlab::cuda
