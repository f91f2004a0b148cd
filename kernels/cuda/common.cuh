// Shared pieces of the CUDA kernels: launch sizes and warp/block reductions.
//
// Reductions are warp shuffles (__shfl_xor_sync) inside a warp, then one shared-memory slot per warp
// inside a block. No reduction ever crosses blocks with __syncthreads(): a quantity reduced over
// more than one block is written as per-block partials and combined by a later kernel, in a fixed
// order, so results are deterministic.
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

#define NL_LAUNCH(kernel, grid, block, shared_bytes, ...) \
  ::normlab::cuda::launch(#kernel, kernel, grid, block, shared_bytes, __VA_ARGS__)

namespace normlab::cuda {

// Launches kernel(args...) converted to its parameter types, then checks the launch (and, with
// NORMLAB_CUDA_SYNC=1, waits for the kernel so that a fault is reported here).
template <typename... P, typename... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes, A... args) {
#ifdef NORMLAB_CUDA_EMULATE
  ::normlab::emu::launch(name, kernel, grid, block, shared_bytes, args...);
#else
  kernel<<<grid, block, shared_bytes>>>(static_cast<P>(args)...);
#endif
  check_launch(name);
}

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
