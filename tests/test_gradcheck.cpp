// Finite-difference gradient checks (float64) for every differentiable op and the whole model.
// Objective dot(u, output); input gradients pre-filled with NaN, parameter gradients with a
// sentinel (tests/gradcheck.h). Inputs to ReLU and max-pool are built away from their kinks.
#include <catch2/catch.hpp>

#include "kernels/dispatch.h"
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "tests/gradcheck.h"

using namespace normlab;
using namespace normlab::test;

namespace {
// Values at least 0.1 away from 0 (for ReLU).
Tensor away_from_zero(const Shape& s, Rng& rng) {
  Tensor t = randn(s, rng);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, (t.get(i) < 0 ? -0.1 : 0.1) + t.get(i));
  return t;
}
}  // namespace

TEST_CASE("conv2d gradients: 1x1 and 3x3, pad 0 and 1, with bias", "[grad][conv]") {
  struct Case { int N, C, H, W, K, R, pad; };
  for (Case c : {Case{2, 3, 5, 4, 4, 3, 1}, Case{1, 2, 4, 5, 3, 3, 0}, Case{2, 3, 3, 3, 2, 1, 0}, Case{1, 1, 3, 3, 2, 3, 1},
                 // 17 = 16 + 1 output channels and 9 = 8 + 1 input channels: every channel block
                 // size of the direct 3x3 kernel (kernels/cpu/conv3x3_direct.h), forward and data gradient
                 Case{1, 9, 5, 6, 17, 3, 1},
                 Case{1, 2, 3, 4, 3, 1, 1}}) {  // 1x1 with padding: the im2col path
    DYNAMIC_SECTION("N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " R" << c.R << " pad" << c.pad) {
      Rng rng(11);
      Tensor x = randn({c.N, c.C, c.H, c.W}, rng), w = randn({c.K, c.C, c.R, c.R}, rng), b = randn({c.K}, rng);
      Tensor dx = Tensor::empty_like(x), dw = Tensor::empty_like(w), db = Tensor::empty_like(b);
      const Shape ys{c.N, c.K, c.H + 2 * c.pad - c.R + 1, c.W + 2 * c.pad - c.R + 1};
      auto fwd = [&] {
        Tensor y = Tensor::empty(ys, DType::f64);
        ops::conv2d_forward(y, x, w, b, c.pad);
        return y;
      };
      auto bwd = [&](const Tensor& u) {
        ops::conv2d_backward_data(dx, u, w, c.pad);
        ops::conv2d_backward_weight(dw, &db, u, x, c.pad);
      };
      gradcheck(fwd, bwd, {{"x", &x, &dx, false}, {"w", &w, &dw, true}, {"b", &b, &db, true}});
    }
  }
}

TEST_CASE("batch norm gradients in training mode (through the batch statistics)", "[grad][bn]") {
  Rng rng(3);
  for (Shape s : {Shape{4, 3, 3, 3}, Shape{1, 2, 3, 5}, Shape{5, 1, 1, 2}}) {
    DYNAMIC_SECTION(shape_str(s)) {
      Tensor x = randn(s, rng, 2.0), g = randn({s[1]}, rng), b = randn({s[1]}, rng);
      Tensor dx = Tensor::empty_like(x), dg = Tensor::empty_like(g), db = Tensor::empty_like(b);
      Tensor mean = Tensor::empty({s[1]}, DType::f64), rstd = Tensor::empty_like(mean);
      auto fwd = [&] {
        Tensor y = Tensor::empty_like(x), rm = Tensor::zeros_like(mean), rv = Tensor::full({s[1]}, 1, DType::f64);
        ops::batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, 1e-5, 0.1);
        return y;
      };
      auto bwd = [&](const Tensor& u) {
        fwd();  // statistics of the unperturbed x
        ops::batchnorm_backward(dx, dg, db, u, mean, rstd, x, g);
      };
      gradcheck(fwd, bwd, {{"x", &x, &dx, false}, {"gamma", &g, &dg, true}, {"beta", &b, &db, true}});
    }
  }
}

TEST_CASE("group norm gradients for G = 1, 2 and C", "[grad][gn]") {
  Rng rng(5);
  const Shape s{2, 4, 3, 2};
  for (int G : {1, 2, 4}) {
    DYNAMIC_SECTION("G=" << G) {
      Tensor x = randn(s, rng, 2.0), g = randn({4}, rng), b = randn({4}, rng);
      Tensor dx = Tensor::empty_like(x), dg = Tensor::empty_like(g), db = Tensor::empty_like(b);
      Tensor mean = Tensor::empty({2, G}, DType::f64), rstd = Tensor::empty_like(mean);
      auto fwd = [&] {
        Tensor y = Tensor::empty_like(x);
        ops::groupnorm_forward(y, mean, rstd, x, g, b, G, 1e-5);
        return y;
      };
      auto bwd = [&](const Tensor& u) {
        fwd();
        ops::groupnorm_backward(dx, dg, db, u, mean, rstd, x, g, G);
      };
      gradcheck(fwd, bwd, {{"x", &x, &dx, false}, {"gamma", &g, &dg, true}, {"beta", &b, &db, true}});
    }
  }
}

TEST_CASE("layer norm gradients, per-channel and per-element affine", "[grad][ln]") {
  Rng rng(9);
  const Shape s{3, 2, 3, 3};
  for (bool per_element : {false, true}) {
    DYNAMIC_SECTION((per_element ? "per element" : "per channel")) {
      const Shape ps = per_element ? Shape{2, 3, 3} : Shape{2};
      Tensor x = randn(s, rng, 2.0), g = randn(ps, rng), b = randn(ps, rng);
      Tensor dx = Tensor::empty_like(x), dg = Tensor::empty_like(g), db = Tensor::empty_like(b);
      Tensor mean = Tensor::empty({3}, DType::f64), rstd = Tensor::empty_like(mean);
      auto fwd = [&] {
        Tensor y = Tensor::empty_like(x);
        ops::layernorm_forward(y, mean, rstd, x, g, b, 1e-5);
        return y;
      };
      auto bwd = [&](const Tensor& u) {
        fwd();
        ops::layernorm_backward(dx, dg, db, u, mean, rstd, x, g);
      };
      gradcheck(fwd, bwd, {{"x", &x, &dx, false}, {"gamma", &g, &dg, true}, {"beta", &b, &db, true}});
    }
  }
}

TEST_CASE("relu, max-pool, global average pool and dropout gradients", "[grad][pointwise]") {
  Rng rng(13);
  SECTION("relu") {
    Tensor x = away_from_zero({2, 3, 4, 4}, rng), dx = Tensor::empty_like(x);
    auto fwd = [&] { Tensor y = Tensor::empty_like(x); ops::relu_forward(y, x); return y; };
    auto bwd = [&](const Tensor& u) { ops::relu_backward(dx, u, fwd()); };
    gradcheck(fwd, bwd, {{"x", &x, &dx, false}});
  }
  SECTION("maxpool 2x2, even and odd sizes") {
    for (Shape s : {Shape{2, 2, 4, 4}, Shape{1, 3, 5, 3}}) {
      // a shuffled ramp: every 2x2 window has a unique maximum, 0.05 above the runner-up or more
      Tensor x = Tensor::empty(s, DType::f64);
      std::vector<int64_t> perm(static_cast<std::size_t>(x.numel()));
      for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
      for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
      for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 0.05 * static_cast<double>(perm[static_cast<std::size_t>(i)]));
      Tensor dx = Tensor::empty_like(x);
      const Shape ys{s[0], s[1], s[2] / 2, s[3] / 2};
      Tensor arg = Tensor::empty(ys, DType::i32);
      auto fwd = [&] { Tensor y = Tensor::empty(ys, DType::f64); ops::maxpool2x2_forward(y, arg, x); return y; };
      auto bwd = [&](const Tensor& u) { fwd(); ops::maxpool2x2_backward(dx, u, arg); };
      gradcheck(fwd, bwd, {{"x", &x, &dx, false}});
    }
  }
  SECTION("global average pool") {
    Tensor x = randn({2, 3, 3, 5}, rng), dx = Tensor::empty_like(x);
    auto fwd = [&] { Tensor y = Tensor::empty({2, 3, 1, 1}, DType::f64); ops::gap_forward(y, x); return y; };
    auto bwd = [&](const Tensor& u) { ops::gap_backward(dx, u); };
    gradcheck(fwd, bwd, {{"x", &x, &dx, false}});
  }
  SECTION("dropout (fixed seed: a fixed linear map)") {
    Tensor x = randn({3, 50}, rng), dx = Tensor::empty_like(x);
    auto fwd = [&] { Tensor y = Tensor::empty_like(x); ops::dropout_forward(y, x, 0.3, 42); return y; };
    auto bwd = [&](const Tensor& u) { ops::dropout_backward(dx, u, 0.3, 42); };
    gradcheck(fwd, bwd, {{"x", &x, &dx, false}});
  }
}

TEST_CASE("log-softmax + NLL gradient, including large logits", "[grad][loss]") {
  Rng rng(17);
  for (double scale : {1.0, 30.0}) {
    DYNAMIC_SECTION("scale " << scale) {
      Tensor z = randn({4, 10}, rng, scale), dz = Tensor::empty_like(z);
      Tensor labels = Tensor::from({4}, {3, 0, 9, 3}, DType::i32);
      Tensor logp = Tensor::empty_like(z);
      auto fwd = [&] { return Tensor::full({1}, test::nll_value(logp, z, labels), DType::f64); };
      auto bwd = [&](const Tensor& u) {
        fwd();
        ops::log_softmax_nll_backward(dz, logp, labels, u.get(0));
      };
      gradcheck(fwd, bwd, {{"z", &z, &dz, false}});
    }
  }
}

TEST_CASE("L1 and L2 penalty gradients", "[grad][penalty]") {
  Rng rng(19);
  Tensor w = away_from_zero({30}, rng), dw = Tensor::empty_like(w);
  auto fwd = [&] { return Tensor::full({1}, test::penalty_value(w, 1e-2, 5e-3), DType::f64); };
  auto bwd = [&](const Tensor& u) {
    Tensor g = Tensor::zeros_like(w);
    ops::penalty_backward(g, w, 1e-2, 5e-3);
    for (int64_t i = 0; i < w.numel(); ++i) dw.set(i, dw.get(i) + u.get(0) * g.get(i));
  };
  gradcheck(fwd, bwd, {{"w", &w, &dw, true}});
}

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
        Context ctx{nullptr, true, 0};
        return Tensor::full({1}, nll_loss(net->forward(make_var(x), ctx), labels, ctx).value(), DType::f64);
      };
      std::vector<Tensor> grads;
      for (auto& p : params) grads.push_back(Tensor::empty_like(p->value));
      auto bwd = [&](const Tensor& u) {
        for (auto& p : params) p->grad.fill(0);
        Tape tape;
        Context ctx{&tape, true, 0};
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
