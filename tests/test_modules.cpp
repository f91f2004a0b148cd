// Module-level gradient checks: every layer through its own forward and the tape, the way training
// runs it. Adding a layer to the framework = one line in module_cases(). Objective, sentinels and
// tolerances as in tests/gradcheck.h: parameter gradients must ACCUMULATE onto kSentinel (the
// check points straight at each parameter's grad), the input gradient is the one the tape assigns.
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "layers/autograd.h"
#include "layers/basic.h"
#include "layers/conv.h"
#include "layers/mnist_net.h"
#include "layers/norm.h"
#include "tests/gradcheck.h"

using namespace normlab;
using namespace normlab::test;

namespace {

struct ModuleCase {
  std::string name;
  Shape input;
  std::function<std::unique_ptr<Module>(Rng&)> make;
  bool away_from_kinks = false;  // shift inputs off 0 (ReLU's kink) and spread them (max-pool ties)
};

NormConfig norm_cfg(int groups, bool per_element) {
  NormConfig c;
  c.groups = groups;
  c.ln_per_element = per_element;
  return c;
}

constexpr DType d = DType::f64;

std::vector<ModuleCase> module_cases() {
  return {
      {"Conv2d 3x3 pad 1, bias", {2, 3, 5, 4}, [](Rng& r) { return std::make_unique<Conv2d>(3, 4, 3, 1, true, r, d); }},
      {"Conv2d 3x3 pad 0", {1, 2, 5, 6}, [](Rng& r) { return std::make_unique<Conv2d>(2, 3, 3, 0, false, r, d); }},
      {"Conv2d 1x1", {2, 4, 3, 3}, [](Rng& r) { return std::make_unique<Conv2d>(4, 2, 1, 0, false, r, d); }},
      {"BatchNorm2d", {3, 2, 3, 3}, [](Rng&) { return make_norm(Norm::bn, {2, 3, 3}, norm_cfg(2, false), d); }},
      {"GroupNorm G=2", {2, 4, 3, 3}, [](Rng&) { return make_norm(Norm::gn, {4, 3, 3}, norm_cfg(2, false), d); }},
      {"LayerNorm per channel", {2, 3, 2, 3}, [](Rng&) { return make_norm(Norm::ln, {3, 2, 3}, norm_cfg(2, false), d); }},
      {"LayerNorm per element", {2, 3, 2, 3}, [](Rng&) { return make_norm(Norm::ln, {3, 2, 3}, norm_cfg(2, true), d); }},
      // A norm with the ReLU (and dropout) after it fused in (layers/norm.h NormActivation)
      {"BatchNorm2d + ReLU + Dropout 0.3", {3, 2, 3, 3},
       [](Rng&) { return make_norm(Norm::bn, {2, 3, 3}, norm_cfg(2, false), d, {true, 0.3, 1}); }},
      {"GroupNorm G=2 + ReLU", {2, 4, 3, 3},
       [](Rng&) { return make_norm(Norm::gn, {4, 3, 3}, norm_cfg(2, false), d, {true, 0.0, 0}); }},
      {"LayerNorm per element + ReLU + Dropout 0.3", {2, 3, 2, 3},
       [](Rng&) { return make_norm(Norm::ln, {3, 2, 3}, norm_cfg(2, true), d, {true, 0.3, 2}); }},
      {"ReLU", {2, 3, 3, 3}, [](Rng&) { return std::make_unique<ReLU>(); }, true},
      {"MaxPool2x2", {2, 2, 4, 4}, [](Rng&) { return std::make_unique<MaxPool2x2>(); }, true},
      {"Dropout 0.3", {2, 3, 4, 4}, [](Rng&) { return std::make_unique<Dropout>(0.3, 0); }},
      {"ReLU + Dropout 0.3 (fused)", {2, 3, 4, 4}, [](Rng&) { return std::make_unique<ReLUDropout>(0.3, 0); }, true},
      {"GlobalAvgPool", {2, 3, 3, 2}, [](Rng&) { return std::make_unique<GlobalAvgPool>(); }},
      {"Flatten", {2, 3, 1, 1}, [](Rng&) { return std::make_unique<Flatten>(); }},
  };
}

}  // namespace

TEST_CASE("every layer's gradients through its forward and the tape", "[grad][modules]") {
  for (const ModuleCase& mc : module_cases()) {
    DYNAMIC_SECTION(mc.name) {
      Rng rng(31);
      auto m = mc.make(rng);
      Tensor x = randn(mc.input, rng);
      if (mc.away_from_kinks)  // |x| >= 0.1 and distinct values 0.01 apart at least in practice
        for (int64_t i = 0; i < x.numel(); ++i) x.set(i, (x.get(i) < 0 ? -0.1 : 0.1) + x.get(i) + 0.01 * i);
      Tensor dx = Tensor::empty_like(x);
      auto fwd = [&] {
        Context ctx{nullptr, true, 5, Tensor()};
        return m->forward(make_var(x), ctx)->value;
      };
      auto bwd = [&](const Tensor& u) {
        Tape tape;
        Context ctx{&tape, true, 5, Tensor()};
        Var xv = make_var(x);
        Var y = m->forward(xv, ctx);
        y->grad = u.clone();
        tape.backward();
        REQUIRE(xv->grad.defined());
        for (int64_t i = 0; i < dx.numel(); ++i) dx.set(i, xv->grad.get(i));
      };
      std::vector<Checked> checked{{"x", &x, &dx, false}};
      auto params = m->parameters();
      for (std::size_t i = 0; i < params.size(); ++i)
        checked.push_back({params[i]->name + std::to_string(i), &params[i]->value, &params[i]->grad, true});
      gradcheck(fwd, bwd, checked);
    }
  }
}

// The fused pair must be the same function, to the bit, as the two layers it replaces (so a
// training's bits did not change when the model started using it): forward in training and in
// evaluation, and the input gradient through the tape, in float on the CPU.
TEST_CASE("ReLU + Dropout fused: the same bits as ReLU then Dropout", "[modules]") {
  Rng rng(41);
  Tensor x = Tensor::empty({4, 5, 7, 7});  // float32
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, rng.normal());
  Tensor u = Tensor::empty_like(x);
  for (int64_t i = 0; i < u.numel(); ++i) u.set(i, rng.normal());
  auto run = [&](bool fused, bool training) {
    ReLU relu;
    Dropout drop(0.3, 2);
    ReLUDropout both(0.3, 2);
    Tape tape;
    Context ctx{training ? &tape : nullptr, training, 77, Tensor()};
    Var xv = make_var(x.clone());
    Var y = fused ? both.forward(xv, ctx) : drop.forward(relu.forward(xv, ctx), ctx);
    std::vector<double> out = y->value.to_vector();
    if (training) {
      y->grad = u.clone();
      tape.backward();
      const auto dx = xv->grad.to_vector();
      out.insert(out.end(), dx.begin(), dx.end());
    }
    return out;
  };
  for (bool training : {true, false}) {
    INFO("training " << training);
    const auto a = run(true, training), b = run(false, training);
    REQUIRE(a.size() == b.size());
    int64_t zeros = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(std::bit_cast<uint64_t>(a[i]) == std::bit_cast<uint64_t>(b[i]));  // +0 and -0 told apart
      zeros += a[i] == 0;
    }
    CHECK(zeros > 0);  // the ReLU (and in training the mask) zeroed something
  }
}

// A norm layer with its activation (the model's blocks since the fusion) must be the same function,
// to the bit, as the norm, ReLU and Dropout layers it replaces: forward in training and evaluation,
// the input and affine gradients through the tape, in float on the CPU, for each norm.
TEST_CASE("norm + ReLU + Dropout fused: the same bits as the three layers", "[modules]") {
  Rng rng(43);
  Tensor x = Tensor::empty({4, 6, 5, 5});  // float32
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 2 * rng.normal());
  Tensor u = Tensor::empty_like(x);
  for (int64_t i = 0; i < u.numel(); ++i) u.set(i, rng.normal());
  for (Norm n : {Norm::bn, Norm::gn, Norm::ln})
    for (double p : {0.0, 0.3}) {
      auto run = [&](bool fused, bool training) {
        auto norm = make_norm(n, {6, 5, 5}, norm_cfg(2, false), DType::f32, {fused, fused ? p : 0.0, 3});
        for (auto& v : norm->parameters())  // beta != 0, so that the ReLU sees both signs off the mean
          for (int64_t i = 0; i < v->value.numel(); ++i) v->value.set(i, v->name == "beta" ? 0.1 * i - 0.2 : 1 + 0.1 * i);
        ReLU relu;
        Dropout drop(p, 3);
        Tape tape;
        Context ctx{training ? &tape : nullptr, training, 77, Tensor()};
        Var xv = make_var(x.clone());
        Var y = fused ? norm->forward(xv, ctx) : drop.forward(relu.forward(norm->forward(xv, ctx), ctx), ctx);
        std::vector<double> out = y->value.to_vector();
        if (training) {
          y->grad = u.clone();
          tape.backward();
          for (const Tensor* g : {&xv->grad, &norm->parameters()[0]->grad, &norm->parameters()[1]->grad}) {
            const auto v = g->to_vector();
            out.insert(out.end(), v.begin(), v.end());
          }
        }
        return out;
      };
      for (bool training : {true, false}) {
        INFO(norm_name(n) << " p " << p << " training " << training);
        const auto a = run(true, training), b = run(false, training);
        REQUIRE(a.size() == b.size());
        int64_t zeros = 0, differ = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
          differ += std::bit_cast<uint64_t>(a[i]) != std::bit_cast<uint64_t>(b[i]);  // +0 and -0 told apart
          zeros += a[i] == 0;
        }
        CHECK(differ == 0);
        CHECK(zeros > 0);  // the ReLU (and in training the mask) zeroed something
      }
    }
}

// A fused module counts as the two layers it replaces: the model's batch-norm buffers keep the
// checkpoint names they had when ReLU and Dropout were separate layers (conv, norm, ReLU, dropout
// per block), so older checkpoints still load.
TEST_CASE("ReLU + Dropout fused: layer numbers and buffer names as before", "[modules]") {
  Rng rng(1);
  NetConfig nc;
  nc.norm = Norm::bn;
  nc.dropout = 0.05;
  auto net = build_mnist_net(nc, rng);
  std::vector<std::string> names;
  for (auto& [name, t] : net->buffers()) names.push_back(name);
  // 8,12,t8,m,12,16,16,12p: the norms were layers 1, 5, 11, 15, 19 and 23
  const std::vector<std::string> want = {"1.running_mean",  "1.running_var",  "5.running_mean",  "5.running_var",
                                         "11.running_mean", "11.running_var", "15.running_mean", "15.running_var",
                                         "19.running_mean", "19.running_var", "23.running_mean", "23.running_var"};
  CHECK(names == want);
  const std::string s = net->summary({1, 1, 28, 28}, DType::f32);
  // Each block's norm applies its ReLU and dropout (layers/norm.h) and stands for three layers.
  CHECK_THAT(s, Catch::Contains("1    BatchNorm2d(8) + ReLU + Dropout(0.05)") &&
                    Catch::Contains("4    Conv2d") && Catch::Contains("25   GlobalAvgPool"));
}
