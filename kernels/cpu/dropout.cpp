// CPU dropout. Math: kernels/dropout.h.
#include "kernels/dropout.h"

#include <cmath>

#include "core/rng.h"

namespace normlab::cpu {
namespace {
template <typename T>
void masked_scale(T* out, const T* in, int64_t n, T p, uint64_t seed) {
  const double thr = std::ldexp(static_cast<double>(p), 32);
  const T scale = T(1) / (T(1) - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<double>(hash_u32(seed, static_cast<uint64_t>(i))) >= thr ? in[i] * scale : T(0);
}
}  // namespace

template <typename T>
void dropout_forward(T* y, const T* x, int64_t n, T p, uint64_t seed) {
  masked_scale(y, x, n, p, seed);
}
template <typename T>
void dropout_backward(T* dx, const T* dy, int64_t n, T p, uint64_t seed) {
  masked_scale(dx, dy, n, p, seed);
}

template void dropout_forward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_forward<double>(double*, const double*, int64_t, double, uint64_t);
template void dropout_backward<float>(float*, const float*, int64_t, float, uint64_t);
template void dropout_backward<double>(double*, const double*, int64_t, double, uint64_t);

}  // namespace normlab::cpu
