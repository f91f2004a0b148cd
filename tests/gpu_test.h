// Shared by the GPU test programs (test_cuda.cpp, test_cudnn.cpp): the tolerance comparison that
// prints max abs/rel error, and the main() that reports SKIPPED (exit 77) without a usable GPU.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "core/device.h"

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

// The Catch2 session, or SKIPPED (CTest's skip code 77) when no CUDA device can be used.
inline int run_on_gpu(int argc, char** argv, const char* needs) {
  std::string why;
  if (!cuda_available(&why)) {
    std::printf("SKIPPED: no usable CUDA device (%s); %s needs a GPU\n", why.c_str(), needs);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

}  // namespace normlab::test
