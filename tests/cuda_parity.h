// What the CUDA parity tests (tests/test_cuda.cpp, tests/test_cuda_versions.cpp: one program,
// cuda_parity) share: an op case of tests/op_cases.cpp run on one device, its outputs with their
// tolerances; the same-bits comparison; and check_case, which runs a case on the CPU and twice on
// the CUDA device (under the emulator, the second time with threads and blocks in reverse order)
// and compares.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "tests/gpu_test.h"
#include "tests/op_cases.h"

namespace normlab::parity {

struct Out {
  std::string name;
  Tensor t;
  double atol, rtol;
};
using Outs = std::vector<Out>;
struct OpCase {
  std::string name;
  std::function<Outs(Device)> run;
};

// An op case of tests/op_cases.cpp on one device: forward, then backward with the upstream gradient
// u (the same values on every device), gradients pre-filled (NaN: assigned; 0.5: accumulated); its
// outputs in a fixed order: y, the gradients, the other outputs.
inline Outs run_op(const test::OpCase& c, Device d) {
  test::OpRun r = c.make(d, DType::f32);
  for (auto& w : r.wrt) w.grad.fill(w.accumulates ? 0.5 : NAN);
  Tensor y = r.forward();
  Outs o{{"y", y, r.y_tol.atol, r.y_tol.rtol}};
  if (r.backward) {
    r.backward(r.unit_upstream ? Tensor::full(y.shape(), 1.0).to_device(d) : test::randn(y.shape(), 99, d));
    for (const auto& w : r.wrt)
      o.push_back({"d" + w.name + (w.accumulates ? " (accumulated)" : ""), w.grad, w.tol.atol, w.tol.rtol});
  }
  for (const auto& a : r.also) o.push_back({a.name, a.t, a.tol.atol, a.tol.rtol});
  return o;
}

inline std::vector<OpCase> op_group(const std::string& group) {
  std::vector<OpCase> v;
  for (const test::OpCase& c : test::op_cases())
    if (c.group == group) v.push_back({c.name, [&c](Device d) { return run_op(c, d); }});
  REQUIRE(!v.empty());
  return v;
}
inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

inline void check_case(const OpCase& c) {
  INFO(c.name);
  std::printf("%s\n", c.name.c_str());
  const Outs cpu = c.run(Device::cpu);
  test::set_emulated_order(false);
  const Outs g1 = c.run(Device::cuda);
  test::set_emulated_order(true);  // under the emulator: threads and blocks in reverse order
  const Outs g2 = c.run(Device::cuda);
  test::set_emulated_order(false);
  REQUIRE(cpu.size() == g1.size());
  REQUIRE(g1.size() == g2.size());
  for (std::size_t k = 0; k < cpu.size(); ++k) {
    const auto want = cpu[k].t.to_vector(), got = g1[k].t.to_vector(), again = g2[k].t.to_vector();
    test::compare(cpu[k].name.c_str(), got, want, cpu[k].atol, cpu[k].rtol);
    INFO(cpu[k].name << ": a second run (" << test::second_run_kind() << ") gave other bits");
    CHECK(same_bits(got, again));
  }
}

}  // namespace normlab::parity
