// Shared by the GPU test programs (test_cuda.cpp with test_cuda_versions.cpp, test_cudnn.cpp): the
// tolerance comparison that prints max abs/rel error, and the main() that reports SKIPPED (exit 77) where there is no GPU —
// but FAILS where a GPU is present and cannot be used (a driver too old for the CUDA runtime, say),
// since skipping there would hide a broken GPU setup. In an emulation build (NORMLAB_CUDA_EMULATE)
// the CUDA device is the CPU emulator, so these tests always run.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "core/device.h"
#include "tests/run_files.h"
#ifdef NORMLAB_CUDA_EMULATE
#include "core/emu/cuda_emu.h"
#endif

namespace normlab::test {

// Requires |got - want| <= atol + rtol * |want| for every element; prints the worst errors.
// T is taken from `got`, so `want` may be written as a braced list ({value}).
template <typename T>
void compare(const char* what, const std::vector<T>& got, const std::type_identity_t<std::vector<T>>& want, double atol,
             double rtol) {
  REQUIRE(got.size() == want.size());
  double max_abs = 0, max_rel = 0;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double w = static_cast<double>(want[i]), d = std::abs(static_cast<double>(got[i]) - w);
    max_abs = std::max(max_abs, d);
    max_rel = std::max(max_rel, d / std::max(std::abs(w), 1e-12));
    if (!(d <= atol + rtol * std::abs(w))) ++bad;
  }
  std::printf("  %-48s n=%-8zu max_abs=%.3e max_rel=%.3e (atol %.0e, rtol %.0e)\n", what, want.size(), max_abs, max_rel,
              atol, rtol);
  INFO(what << ": " << bad << " elements outside tolerance; max abs " << max_abs);
  CHECK(bad == 0);
}

#ifdef CATCH_CONFIG_RUNNER  // in the file with main(); the program's other files share the rest
// The Catch2 session; SKIPPED (CTest's skip code 77) when there is no GPU; FAILED (exit 1) when a
// GPU is present but the CUDA runtime cannot use it.
inline int run_on_gpu(int argc, char** argv, const char* needs) {
  std::string why;
  if (!cuda_available(&why)) {
    if (gpu_present()) {
      std::printf("FAILED: a GPU is installed but CUDA cannot use it (%s); %s cannot run\n", why.c_str(), needs);
      return 1;
    }
    std::printf("SKIPPED: no usable CUDA device (%s); %s needs a GPU\n", why.c_str(), needs);
    return 77;
  }
  std::printf("CUDA device: %s\n", cuda_device_name().c_str());
  return Catch::Session().run(argc, argv);
}
#endif

// Under the emulator: run the threads and blocks between barriers in reverse order (true) or in
// order (false). On a GPU the order is the hardware's; the second run then checks determinism.
inline void set_emulated_order(bool reverse) {
#ifdef NORMLAB_CUDA_EMULATE
  emu::set_order(reverse ? emu::Order::reverse : emu::Order::forward);
#else
  (void)reverse;
#endif
}
inline const char* second_run_kind() {
#ifdef NORMLAB_CUDA_EMULATE
  return "threads and blocks in reverse order: a race";
#else
  return "the same inputs again: not deterministic";
#endif
}

// Under the emulator: every kernel that ran, and how often (the CI log shows what was exercised).
inline void print_kernels_run() {
#ifdef NORMLAB_CUDA_EMULATE
  const auto k = emu::kernel_counts();
  std::printf("kernels run on the CUDA emulator (%zu kernels, %lld launches):", k.size(),
              static_cast<long long>(emu::launches()));
  for (const auto& [name, n] : k) std::printf(" %s x%lld", name.c_str(), static_cast<long long>(n));
  std::printf("\n");
#endif
}

}  // namespace normlab::test
