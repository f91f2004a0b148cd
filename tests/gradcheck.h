// Finite-difference gradient checks in float64.
//
// Objective L = dot(u, f(inputs)) with u a fixed random upstream gradient, so dL/dout = u. For each
// element e of each checked tensor, numeric dL/de = (L(e + h) - L(e - h)) / 2h (central differences),
// compared with the analytic gradient by relative error |a - n| / max(|a| + |n|, floor).
//
// Sentinels: the analytic backward runs with input-gradient buffers pre-filled with NaN (an ASSIGNED
// gradient must overwrite every element) and parameter-gradient buffers pre-filled with kSentinel (an
// ACCUMULATED gradient must add to it: the check compares grad - kSentinel).
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/log_softmax_nll.h"
#include "kernels/penalty.h"

namespace normlab::test {

constexpr double kSentinel = 0.75;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline Tensor randn(const Shape& s, Rng& rng, double scale = 1.0) {
  Tensor t = Tensor::empty(s, DType::f64);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * rng.normal());
  return t;
}

inline double dot(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.get(i) * b.get(i);
  return s;
}

struct Checked {
  std::string name;
  Tensor* value;      // the tensor perturbed
  Tensor* grad;       // its analytic gradient (filled by `backward`)
  bool accumulates;   // parameter gradient (+=, starts at kSentinel) or input gradient (=, starts NaN)
};

// forward(): returns the output for the current values. backward(u): fills the grads given dL/dout = u.
// unit_upstream: u = 1 (for ops whose backward takes no upstream gradient).
inline double gradcheck(const std::function<Tensor()>& forward, const std::function<void(const Tensor&)>& backward,
                        std::vector<Checked> checked, uint64_t seed = 7, double h = 1e-5, double floor = 1e-3,
                        double tol = 1e-5, bool unit_upstream = false) {
  Rng rng(seed);
  Tensor y0 = forward();
  Tensor u = unit_upstream ? Tensor::full(y0.shape(), 1.0, DType::f64) : randn(y0.shape(), rng);
  for (auto& c : checked) c.grad->fill(c.accumulates ? kSentinel : kNaN);
  backward(u);
  double worst = 0;
  for (auto& c : checked) {
    for (int64_t i = 0; i < c.value->numel(); ++i) {
      const double v = c.value->get(i);
      c.value->set(i, v + h);
      const double lp = dot(u, forward());
      c.value->set(i, v - h);
      const double lm = dot(u, forward());
      c.value->set(i, v);
      const double num = (lp - lm) / (2 * h);
      const double ana = c.grad->get(i) - (c.accumulates ? kSentinel : 0.0);
      INFO(c.name << "[" << i << "] analytic " << ana << " numeric " << num);
      REQUIRE(std::isfinite(ana));
      const double err = std::abs(ana - num) / std::max(std::abs(ana) + std::abs(num), floor);
      worst = std::max(worst, err);
      CHECK(err < tol);
    }
  }
  return worst;
}

// The mean NLL and the penalty value as numbers (they wait for the device: tests only).
inline double nll_value(Tensor& logp, const Tensor& z, const Tensor& labels) {
  Tensor loss = Tensor::empty({1}, z.dtype(), z.device());
  ops::log_softmax_nll_forward(logp, loss, z, labels);
  return loss.to_vector()[0];
}
inline double penalty_value(const Tensor& w, double l1, double l2) {
  Tensor value = Tensor::zeros({1}, w.dtype(), w.device());
  ops::penalty_forward(value, 0, w, l1, l2);
  return value.to_vector()[0];
}

}  // namespace normlab::test
