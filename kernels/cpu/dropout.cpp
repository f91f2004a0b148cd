// CPU dropout. Math: kernels/dropout.h.
#include "kernels/dropout.h"

#include <bit>
#include <cmath>
#include <type_traits>

#include "core/rng.h"

namespace normlab::cpu {
namespace {
// v where keep, else +0, without a branch: v's bits ANDed with all ones or all zeros. Written so
// (not `keep ? v : 0`) the loop below vectorizes on AVX2 too (measured: 1.6x faster there, the same
// bits); compilers turn the branch into masked moves only with AVX-512.
template <typename T>
T keep_or_zero(T v, bool keep) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  return std::bit_cast<T>(std::bit_cast<U>(v) & (U(0) - U(keep)));
}

// out = in * scale where kept, else +0; with kRelu, max(in, 0) * scale (relu_dropout_forward).
template <bool kRelu, typename T>
void masked_scale(T* out, const T* in, int64_t n, T p, DropoutSeed mask) {
  const uint64_t seed = mask.value();
  // hash >= p * 2^32, as integers: the hash is whole, so comparing it with the threshold rounded up
  // is the same test as comparing it with p * 2^32 itself.
  const auto thr = static_cast<uint64_t>(std::ceil(std::ldexp(static_cast<double>(p), 32)));
  const T scale = T(1) / (T(1) - p);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T v = kRelu ? (in[i] > T(0) ? in[i] : T(0)) : in[i];
    out[i] = keep_or_zero(v * scale, uint64_t{hash_u32(seed, static_cast<uint64_t>(i))} >= thr);
  }
}
}  // namespace

template <typename T>
void dropout_forward(T* y, const T* x, int64_t n, T p, DropoutSeed seed) {
  masked_scale<false>(y, x, n, p, seed);
}
template <typename T>
void dropout_backward(T* dx, const T* dy, int64_t n, T p, DropoutSeed seed) {
  masked_scale<false>(dx, dy, n, p, seed);
}

template <typename T>
void relu_dropout_forward(T* y, const T* x, int64_t n, T p, DropoutSeed seed) {
  masked_scale<true>(y, x, n, p, seed);
}

template <typename T>
void relu_dropout_backward(T* dx, const T* dy, const T* y, int64_t n, T p) {
  const T scale = T(1) / (T(1) - p);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = keep_or_zero(dy[i] * scale, y[i] > T(0));
}

template void dropout_forward<float>(float*, const float*, int64_t, float, DropoutSeed);
template void dropout_forward<double>(double*, const double*, int64_t, double, DropoutSeed);
template void dropout_backward<float>(float*, const float*, int64_t, float, DropoutSeed);
template void dropout_backward<double>(double*, const double*, int64_t, double, DropoutSeed);
template void relu_dropout_forward<float>(float*, const float*, int64_t, float, DropoutSeed);
template void relu_dropout_forward<double>(double*, const double*, int64_t, double, DropoutSeed);
template void relu_dropout_backward<float>(float*, const float*, const float*, int64_t, float);
template void relu_dropout_backward<double>(double*, const double*, const double*, int64_t, double);

}  // namespace normlab::cpu
