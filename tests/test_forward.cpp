// Forward values checked against hand-computed ones, and the optimizer/schedule/augmentation.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/schedule.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/gather.h"
#include "kernels/gap.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"
#include "kernels/maxpool.h"
#include "kernels/penalty.h"
#include "kernels/relu.h"
#include "kernels/rotate.h"
#include "kernels/sgd.h"
#include "kernels/step.h"
#include "tests/gradcheck.h"

using namespace normlab;
using Catch::Matchers::WithinAbs;

TEST_CASE("conv2d forward by hand: 3x3 pad 1 and 1x1", "[forward][conv]") {
  // x = 1..9 in a 3x3 image; w = all ones: each output is the sum of its (zero-padded) 3x3 window.
  Tensor x = Tensor::from({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::full({1, 1, 3, 3}, 1.0);
  Tensor y = Tensor::empty({1, 1, 3, 3});
  ops::conv2d_forward(y, x, w, Tensor(), 1);
  const double want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) CHECK(y.get(i) == want[i]);
  // pad 0: one output, 45; with bias 0.5 -> 45.5
  Tensor y0 = Tensor::empty({1, 1, 1, 1});
  ops::conv2d_forward(y0, x, w, Tensor::from({1}, {0.5}), 0);
  CHECK(y0.get(0) == 45.5);
  // 1x1 over 2 channels: y = 2*x0 - x1
  Tensor x2 = Tensor::from({1, 2, 1, 2}, {1, 2, 3, 5});
  Tensor w2 = Tensor::from({1, 2, 1, 1}, {2, -1});
  Tensor y2 = Tensor::empty({1, 1, 1, 2});
  ops::conv2d_forward(y2, x2, w2, Tensor(), 0);
  CHECK(y2.get(0) == -1);
  CHECK(y2.get(1) == -1);
}

TEST_CASE("batch norm forward by hand, running statistics and eval mode", "[forward][bn]") {
  // one channel, values 1,2,3,4 over N=2, HW=2: mean 2.5, biased var 1.25, unbiased 5/3
  Tensor x = Tensor::from({2, 1, 1, 2}, {1, 2, 3, 4}, DType::f64);
  Tensor g = Tensor::from({1}, {2.0}, DType::f64), b = Tensor::from({1}, {0.5}, DType::f64);
  Tensor y = Tensor::empty_like(x), mean = Tensor::empty({1}, DType::f64), rstd = Tensor::empty_like(mean);
  Tensor rm = Tensor::zeros({1}, DType::f64), rv = Tensor::full({1}, 1.0, DType::f64);
  ops::batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, 1e-5, 0.1);
  const double rs = 1 / std::sqrt(1.25 + 1e-5);
  CHECK_THAT(mean.get(0), WithinAbs(2.5, 1e-12));
  CHECK_THAT(rstd.get(0), WithinAbs(rs, 1e-12));
  for (int i = 0; i < 4; ++i) CHECK_THAT(y.get(i), WithinAbs(2 * (i + 1 - 2.5) * rs + 0.5, 1e-12));
  CHECK_THAT(rm.get(0), WithinAbs(0.25, 1e-12));                   // 0.9*0 + 0.1*2.5
  CHECK_THAT(rv.get(0), WithinAbs(0.9 + 0.1 * 5.0 / 3.0, 1e-12));  // unbiased variance
  ops::batchnorm_forward_eval(y, x, g, b, rm, rv, 1e-5);
  CHECK_THAT(y.get(0), WithinAbs(2 * (1 - 0.25) / std::sqrt(rv.get(0) + 1e-5) + 0.5, 1e-12));
}

TEST_CASE("group norm and layer norm forward by hand", "[forward][gn][ln]") {
  // N=1, C=2, HW=2: channel 0 = {0, 2}, channel 1 = {4, 10}
  Tensor x = Tensor::from({1, 2, 1, 2}, {0, 2, 4, 10}, DType::f64);
  Tensor g = Tensor::from({2}, {1, 3}, DType::f64), b = Tensor::from({2}, {0, 1}, DType::f64);
  Tensor y = Tensor::empty_like(x);
  SECTION("G = C: each channel alone (instance norm)") {
    Tensor m = Tensor::empty({1, 2}, DType::f64), r = Tensor::empty_like(m);
    ops::groupnorm_forward(y, m, r, x, g, b, 2, 0.0 + 1e-12);
    CHECK_THAT(m.get(0), WithinAbs(1, 1e-12));
    CHECK_THAT(m.get(1), WithinAbs(7, 1e-12));
    CHECK_THAT(y.get(0), WithinAbs(-1, 1e-6));
    CHECK_THAT(y.get(3), WithinAbs(3 * 1 + 1, 1e-6));
  }
  SECTION("G = 1 equals layer norm with per-channel affine") {
    Tensor m = Tensor::empty({1, 1}, DType::f64), r = Tensor::empty_like(m);
    ops::groupnorm_forward(y, m, r, x, g, b, 1, 1e-5);
    // mean 4, var (16+4+0+36)/4 = 14
    CHECK_THAT(m.get(0), WithinAbs(4, 1e-12));
    CHECK_THAT(r.get(0), WithinAbs(1 / std::sqrt(14 + 1e-5), 1e-12));
    Tensor y2 = Tensor::empty_like(x), m2 = Tensor::empty({1}, DType::f64), r2 = Tensor::empty_like(m2);
    ops::layernorm_forward(y2, m2, r2, x, g, b, 1e-5);
    for (int i = 0; i < 4; ++i) CHECK_THAT(y2.get(i), WithinAbs(y.get(i), 1e-12));
    CHECK_THAT(y2.get(3), WithinAbs(3 * 6 / std::sqrt(14 + 1e-5) + 1, 1e-12));
  }
  SECTION("layer norm, per-element affine") {
    Tensor ge = Tensor::from({2, 1, 2}, {1, 2, 3, 4}, DType::f64), be = Tensor::zeros({2, 1, 2}, DType::f64);
    Tensor m = Tensor::empty({1}, DType::f64), r = Tensor::empty_like(m);
    ops::layernorm_forward(y, m, r, x, ge, be, 1e-5);
    const double rs = 1 / std::sqrt(14 + 1e-5);
    CHECK_THAT(y.get(1), WithinAbs(2 * (2 - 4) * rs, 1e-12));
    CHECK_THAT(y.get(3), WithinAbs(4 * (10 - 4) * rs, 1e-12));
  }
}

TEST_CASE("relu, max-pool, global average pool, log-softmax by hand", "[forward]") {
  Tensor x = Tensor::from({1, 1, 2, 4}, {1, -2, 3, 0.5, -1, 4, 2, 2.5});
  Tensor r = Tensor::empty_like(x);
  ops::relu_forward(r, x);
  CHECK(r.to_vector() == std::vector<double>{1, 0, 3, 0.5, 0, 4, 2, 2.5});
  Tensor y = Tensor::empty({1, 1, 1, 2}), arg = Tensor::empty({1, 1, 1, 2}, DType::i32);
  ops::maxpool2x2_forward(y, arg, x);
  CHECK(y.get(0) == 4);
  CHECK(y.get(1) == 3);
  CHECK(arg.get(0) == 5);
  CHECK(arg.get(1) == 2);
  Tensor gp = Tensor::empty({1, 1, 1, 1});
  ops::gap_forward(gp, x);
  CHECK_THAT(gp.get(0), WithinAbs(10.0 / 8, 1e-6));
  // log-softmax of (0, ln 3): probabilities 1/4 and 3/4; loss of label 1 = -ln(3/4)
  Tensor z = Tensor::from({1, 2}, {0, std::log(3.0)}, DType::f64), lp = Tensor::empty_like(z);
  const double loss = test::nll_value(lp, z, Tensor::from({1}, {1}, DType::i32));
  CHECK_THAT(loss, WithinAbs(-std::log(0.75), 1e-12));
  CHECK_THAT(lp.get(0), WithinAbs(std::log(0.25), 1e-12));
  // huge logits do not overflow
  Tensor zb = Tensor::from({1, 2}, {1000, 0}), lb = Tensor::empty_like(zb);
  CHECK_THAT(test::nll_value(lb, zb, Tensor::from({1}, {0}, DType::i32)), WithinAbs(0, 1e-6));
}

TEST_CASE("SGD step: momentum, Nesterov; penalty adds L1 sign and L2", "[optim]") {
  Tensor w = Tensor::from({2}, {1.0, -2.0}, DType::f64), v = Tensor::zeros({2}, DType::f64);
  Tensor g = Tensor::from({2}, {0.5, 0.25}, DType::f64);
  ops::sgd_step(w, v, g, 0, 0, 0, 0.1, 0.9, false);  // v = g; w -= 0.1 g
  CHECK_THAT(w.get(0), WithinAbs(0.95, 1e-12));
  ops::sgd_step(w, v, g, 0, 0, 0, 0.1, 0.9, false);  // v = 0.9*0.5 + 0.5 = 0.95
  CHECK_THAT(v.get(0), WithinAbs(0.95, 1e-12));
  CHECK_THAT(w.get(0), WithinAbs(0.95 - 0.095, 1e-12));
  Tensor w2 = Tensor::from({1}, {1.0}, DType::f64), v2 = Tensor::zeros({1}, DType::f64);
  ops::sgd_step(w2, v2, Tensor::from({1}, {1.0}, DType::f64), 0, 0, 0, 0.1, 0.9, true);  // step = g + 0.9 v = 1.9
  CHECK_THAT(w2.get(0), WithinAbs(1 - 0.19, 1e-12));
  // the penalty fused in on the first n_decay = 2 elements: g = dw + l1 sign(w) + l2 w; lr 1, no momentum: w -= g
  Tensor w3 = Tensor::from({3}, {3.0, -2.0, 0.5}, DType::f64), v3 = Tensor::zeros({3}, DType::f64);
  Tensor g3 = Tensor::full({3}, 1.0, DType::f64);
  ops::sgd_step(w3, v3, g3, 2, 0.1, 0.01, 1.0, 0.0, false);
  CHECK_THAT(w3.get(0), WithinAbs(3 - (1 + 0.1 + 0.03), 1e-12));
  CHECK_THAT(w3.get(1), WithinAbs(-2 - (1 - 0.1 - 0.02), 1e-12));
  CHECK_THAT(w3.get(2), WithinAbs(0.5 - 1, 1e-12));  // past n_decay: no penalty
  CHECK(g3.get(0) == 1.0);                            // dw is read only
  Tensor dw = Tensor::full({2}, 1.0, DType::f64);  // accumulates
  ops::penalty_backward(dw, Tensor::from({2}, {3.0, -2.0}, DType::f64), 0.1, 0.01);
  CHECK_THAT(dw.get(0), WithinAbs(1 + 0.1 + 0.03, 1e-12));
  CHECK_THAT(dw.get(1), WithinAbs(1 - 0.1 - 0.02, 1e-12));
  CHECK_THAT(test::penalty_value(Tensor::from({2}, {3.0, -2.0}, DType::f64), 0.1, 0.01),
             WithinAbs(0.1 * 5 + 0.005 * 13, 1e-12));
}

TEST_CASE("learning-rate schedules", "[optim]") {
  LrSchedule s;
  s.max_lr = 0.1;
  s.total_steps = 1000;
  s.steps_per_epoch = 100;
  CHECK_THAT(s.at(0), WithinAbs(0.1 / 25, 1e-12));
  CHECK_THAT(s.at(200), WithinAbs(0.1, 1e-12));  // peak at pct = 0.2
  CHECK(s.at(999) < 1e-6);
  CHECK(s.at(500) < s.at(300));
  s.kind = Schedule::step;
  CHECK_THAT(s.at(599), WithinAbs(0.1, 1e-12));
  CHECK_THAT(s.at(600), WithinAbs(0.01, 1e-12));
}

TEST_CASE("rotation augmentation: 0 is the identity, 90 degrees permutes pixels", "[augment]") {
  Tensor x = Tensor::empty({1, 1, 5, 5});
  for (int i = 0; i < 25; ++i) x.set(i, i);
  Tensor y = Tensor::empty_like(x);
  ops::rotate_forward(y, x, Tensor::from({1}, {0.0}), -1.0);
  CHECK(y.to_vector() == x.to_vector());
  ops::rotate_forward(y, x, Tensor::from({1}, {M_PI / 2}), -1.0);
  // u = (i - c) + c reads source column i; v = -(j - c) + c reads source row 4 - j
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) CHECK_THAT(y.get(i * 5 + j), WithinAbs(x.get((4 - j) * 5 + i), 1e-4));
}

TEST_CASE("the step counter: each op that reads it is its plain form at the step it holds", "[step]") {
  // s = 5, b = 2 with batches of 3: lr[5], the seed of step 40 + 5, rows and angles from 6.
  Tensor counter = ops::make_step(5, 2, Device::cpu);
  std::vector<double> lrs{0.9, 0.8, 0.7, 0.6, 0.5, 0.125, 0.3};
  Tensor w = Tensor::from({4}, {1.0, -2.0, 0.5, 3.0}), v = Tensor::zeros({4}), g = Tensor::from({4}, {0.5, 1, -1, 2});
  Tensor w2 = w.clone(), v2 = v.clone();
  ops::sgd_step(w, v, g, 2, 1e-2, 1e-3, Tensor::from({7}, lrs), counter, 0.9, true);
  ops::sgd_step(w2, v2, g, 2, 1e-2, 1e-3, 0.125, 0.9, true);
  CHECK(w.to_vector() == w2.to_vector());
  CHECK(v.to_vector() == v2.to_vector());

  const int M = 10;
  Tensor x = Tensor::empty({M, 1, 4, 4}), labels = Tensor::empty({M}, DType::i32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, std::sin(double(i)));
  for (int i = 0; i < M; ++i) labels.set(i, (i * 3) % 10);
  Tensor order = Tensor::from({10}, {9, 2, 4, 0, 7, 1, 8, 3, 6, 5}, DType::i32);
  Tensor angles = Tensor::from({10}, {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, -0.7, 0.8, -0.9});
  Tensor a = Tensor::empty({2, 1, 4, 4}), al = Tensor::empty({2}, DType::i32), b = Tensor::empty_like(a),
         bl = Tensor::empty_like(al);
  ops::gather_rows(a, al, x, labels, order, counter, 3);  // rows order[6], order[7]: a short last batch
  ops::gather_rows(b, bl, x, labels, order.rows(6, 2));
  CHECK(a.to_vector() == b.to_vector());
  CHECK(al.to_vector() == bl.to_vector());
  CHECK(al.get(0) == labels.get(8));
  Tensor ra = Tensor::empty_like(a), rb = Tensor::empty_like(a);
  ops::rotate_forward(ra, a, angles, -1.0, counter, 3);
  ops::rotate_forward(rb, a, angles.rows(6, 2), -1.0);
  CHECK(ra.to_vector() == rb.to_vector());
  CHECK(ra.to_vector() != a.to_vector());  // angles 0.6 and -0.7 moved pixels

  Tensor da = Tensor::empty_like(ra), db = Tensor::empty_like(ra);
  ops::dropout_forward(da, ra, 0.4, ops::MaskSeed(40, 3, counter));
  ops::dropout_forward(db, ra, 0.4, dropout_layer_seed(45, 3));
  CHECK(da.to_vector() == db.to_vector());
  ops::dropout_forward(db, ra, 0.4, dropout_layer_seed(44, 3));  // another step: another mask
  CHECK(da.to_vector() != db.to_vector());

  ops::step_advance(counter);
  CHECK(counter.to_vector() == std::vector<double>{6, 3});
  // a counter on the wrong device or of the wrong shape is refused
  CHECK_THROWS_WITH(ops::step_advance(w), Catch::Contains("step must be i32") || Catch::Contains("shape"));
}

TEST_CASE("dropout keeps about 1-p of the values, scaled by 1/(1-p)", "[dropout]") {
  Tensor x = Tensor::full({100000}, 1.0), y = Tensor::empty_like(x);
  ops::dropout_forward(y, x, 0.25, 123);
  int64_t kept = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (y.get(i) != 0) {
      ++kept;
      CHECK_THAT(y.get(i), WithinAbs(1 / 0.75, 1e-6));
    }
  }
  CHECK(std::abs(static_cast<double>(kept) / 1e5 - 0.75) < 0.01);
}
