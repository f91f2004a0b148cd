// Seeded random numbers.
//
// Rng is a small, fast, seedable generator (xoshiro256**, seeded through splitmix64) for the host
// side: weight init, shuffling, augmentation angles. Everything random that happens inside a
// parallel kernel (dropout) uses the counter-based hash `philox_like(seed, counter)` instead, so its
// result depends only on (seed, element index) and not on the number of threads or their order.
// Together: same seed + same thread count -> bit-identical CPU run.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace normlab {

NL_HOST_DEVICE inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Counter-based: a well-mixed 32-bit value for (seed, counter). Used by dropout on every backend.
NL_HOST_DEVICE inline uint32_t hash_u32(uint64_t seed, uint64_t counter) {
  uint64_t x = seed ^ (counter * 0xD1B54A32D192ED03ull);
  return static_cast<uint32_t>(splitmix64(x) >> 32);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
  }
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {  // Box-Muller, no cached second value (keeps the state simple)
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  uint64_t below(uint64_t n) { return next_u64() % n; }  // n small: modulo bias is negligible

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace normlab
