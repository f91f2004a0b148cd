// Version 5's element-wise passes (kernels/cuda/versions.h): four values per thread, one 16-byte
// load or store per tensor, 32-bit indices.
//
// Versions 2-4 run the norms' element-wise passes (y = act(z) forward, dx backward) one value per
// thread over a 64-bit flat index k, and find each value's channel as k / HW % C (and its segment
// as k / M): integer divides per value, on kernels that should only stream memory. Version 5
// gives each thread a quad — values 4q .. 4q+3 — read and written as one float4. When HW % 4 == 0
// (every norm of the model: 26², 24², 10², 8², 6²) a quad lies in one (sample, channel)
// plane, so it has one channel, one segment and one set of statistics, found once with 32-bit
// divides; the per-value arithmetic is version 4's expressions (version 3's for the plain ops),
// unchanged, so version 5 gives version 4's bits (on the emulator: tests/test_cuda.cpp). vec4_ok
// says when it applies: HW % 4 == 0, fewer than 2^31 values, every pointer 16-byte aligned (a
// misaligned float4 access faults on a GPU, and on the emulator). Otherwise version 5 runs the
// older kernels. The partial-sum passes keep version 4's (and 3's) loops: they have no divides,
// and their order of addition is what fixes the bits.
#pragma once
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace normlab::cuda {

constexpr int kVec = 4;  // values per quad

// Whether version 5's quads can run over a tensor of n values in planes of HW.
template <typename... P>
bool vec4_ok(int64_t n, int HW, const P*... ptrs) {
  const bool aligned = ((reinterpret_cast<std::uintptr_t>(ptrs) % (kVec * sizeof(float)) == 0) && ...);
  return HW % kVec == 0 && n < (int64_t(1) << 31) && aligned;
}

// Four values as registers: v[j] is value 4q + j.
struct Quad {
  float v[kVec];
};

// Under the emulator a misaligned quad is reported as the GPU's fault (the launch fails) and then
// read or written value by value: this CPU's 16-byte moves would fault before the report.
__device__ inline Quad load_quad(const float* p, unsigned q) {
  const float* a = p + std::size_t(q) * kVec;
#ifdef NORMLAB_CUDA_EMULATE
  if (reinterpret_cast<std::uintptr_t>(a) % sizeof(float4) != 0)
    ::normlab::emu::device_fault("misaligned float4 load", std::source_location::current());
  return {{a[0], a[1], a[2], a[3]}};
#else
  const float4 f = *reinterpret_cast<const float4*>(a);
  return {{f.x, f.y, f.z, f.w}};
#endif
}

__device__ inline void store_quad(float* p, unsigned q, const Quad& v) {
  float* a = p + std::size_t(q) * kVec;
#ifdef NORMLAB_CUDA_EMULATE
  if (reinterpret_cast<std::uintptr_t>(a) % sizeof(float4) != 0)
    ::normlab::emu::device_fault("misaligned float4 store", std::source_location::current());
  for (int j = 0; j < kVec; ++j) a[j] = v.v[j];
#else
  *reinterpret_cast<float4*>(a) = make_float4(v.v[0], v.v[1], v.v[2], v.v[3]);
#endif
}

// Grid-stride loop over the quads [0, n4) with a 32-bit index.
#define NL_QUAD_LOOP(q, n4) \
  for (unsigned q = blockIdx.x * blockDim.x + threadIdx.x; q < (n4); q += gridDim.x * blockDim.x)

}  // namespace normlab::cuda
