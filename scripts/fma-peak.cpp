// The machine's float FMA peak per core, for the roofline in docs/results-cpu.md: 16 independent
// AVX-512 FMA chains (enough to cover the FMA latency on both pipes), 200 M iterations.
//   g++ -O2 -march=native scripts/fma-peak.cpp -o /tmp/fma-peak && /tmp/fma-peak
// Needs AVX-512F. Not part of the build: a measuring tool, not project code.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
int main() {
  __m512 a[16]; for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-7f);
  const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  const long n = 200000000;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(a[j], b, c);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sum = 0, lanes[16];
  for (int j = 0; j < 16; ++j) {
    _mm512_storeu_ps(lanes, a[j]);
    for (float v : lanes) sum += v;
  }
  printf("%.1f GFLOP/s on one core (checksum %g)\n", n * 16.0 * 16 * 2 / s / 1e9, sum);
}
