// Finite-difference gradient checks (float64) for every differentiable op — the cases of
// tests/op_cases.cpp marked fd — and the whole model. Objective dot(u, output); input gradients
// pre-filled with NaN, parameter gradients with a sentinel (tests/gradcheck.h). Inputs to ReLU and
// max-pool are built away from their kinks.
#include <catch2/catch.hpp>

#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "tests/gradcheck.h"
#include "tests/op_cases.h"

using namespace normlab;
using namespace normlab::test;

namespace {
// Every op case small enough for finite differences (tests/op_cases.cpp), of one group.
void check_group(const std::string& group) {
  int n = 0;
  for (const OpCase& c : op_cases()) {
    if (c.group != group || !c.fd) continue;
    ++n;
    DYNAMIC_SECTION(c.name) {
      OpRun r = c.make(Device::cpu, DType::f64);
      REQUIRE(r.backward);
      std::vector<Checked> checked;
      for (Wrt& w : r.wrt) checked.push_back({w.name, &w.value, &w.grad, w.accumulates});
      gradcheck(r.forward, r.backward, checked, 7, 1e-5, 1e-3, 1e-5, r.unit_upstream);
    }
  }
  CHECK(n > 0);  // the group exists and has cases
}
}  // namespace

TEST_CASE("conv2d gradients: 1x1 and 3x3, pad 0 and 1, with bias", "[grad][conv]") { check_group("conv"); }
TEST_CASE("batch, group and layer norm gradients (through the batch/group/sample statistics)", "[grad][norm]") {
  check_group("norm");
}
TEST_CASE("relu, max-pool, global average pool and dropout gradients", "[grad][pointwise]") { check_group("pointwise"); }
TEST_CASE("log-softmax + NLL and L1 + L2 penalty gradients", "[grad][train]") { check_group("train"); }

TEST_CASE("whole model on a tiny batch, each norm", "[grad][model]") {
  for (const NormSpec& spec : norm_table()) {
    const Norm n = spec.norm;
    DYNAMIC_SECTION(norm_name(n)) {
      Rng rng(23);
      NetConfig nc;
      nc.norm = n;
      auto net = build_mnist_net(nc, rng, DType::f64);
      Tensor x = randn({2, 1, 28, 28}, rng);
      Tensor labels = Tensor::from({2}, {7, 2}, DType::i32);
      auto params = net->parameters();
      auto fwd = [&] {
        Context ctx{nullptr, true, 0, Tensor()};
        return Tensor::full({1}, nll_loss(net->forward(make_var(x), ctx), labels, ctx).value(), DType::f64);
      };
      std::vector<Tensor> grads;
      for (auto& p : params) grads.push_back(Tensor::empty_like(p->value));
      auto bwd = [&](const Tensor& u) {
        for (auto& p : params) p->grad.fill(0);
        Tape tape;
        Context ctx{&tape, true, 0, Tensor()};
        Var xv = make_var(x);
        xv->requires_grad = false;
        nll_loss(net->forward(xv, ctx), labels, ctx);
        tape.backward();
        for (std::size_t i = 0; i < params.size(); ++i)
          for (int64_t k = 0; k < grads[i].numel(); ++k) grads[i].set(k, grads[i].get(k) + u.get(0) * params[i]->grad.get(k));
      };
      // The first conv and its norm's gamma, the 1x1 transition and the head: gradients that flow
      // back through every layer type.
      std::vector<Checked> checked;
      for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{6}, params.size() - 1})
        checked.push_back({"param" + std::to_string(i), &params[i]->value, &grads[i], true});
      gradcheck(fwd, bwd, checked, 29, 1e-6, 1e-3, 1e-4);
    }
  }
}
