// The op cases (see tests/op_cases.h): one list for the gradient check and the CUDA parity test.
// Shapes marked fd are small (finite differences perturb every element); the others are the awkward
// ones for the CUDA kernels: batch 1, odd sizes and channel counts, the model's own shapes, a group
// segment larger than a block, more weights than fit in shared memory.
#include "tests/op_cases.h"

#include <cmath>
#include <cstdio>
#include <tuple>

#include "core/rng.h"
#include "kernels/add.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/gap.h"
#include "kernels/gather.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"
#include "kernels/log_softmax_nll.h"
#include "kernels/maxpool.h"
#include "kernels/metrics.h"
#include "kernels/penalty.h"
#include "kernels/relu.h"
#include "kernels/rotate.h"
#include "kernels/sgd.h"
#include "kernels/step.h"

namespace normlab::test {

Tensor randn(const Shape& s, uint64_t seed, Device d, DType dt, double scale) {
  Tensor t = Tensor::empty(s, dt);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * r.normal());
  return t.to_device(d);
}
Tensor ints(const std::vector<double>& v, Device d) {
  return Tensor::from({static_cast<int64_t>(v.size())}, v, DType::i32).to_device(d);
}

namespace {

// Values at least 0.1 away from 0 (ReLU's kink; the sign of w in the L1 penalty).
Tensor away_from_zero(const Shape& s, uint64_t seed, Device d, DType dt) {
  Tensor t = randn(s, seed, Device::cpu, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, (t.get(i) < 0 ? -0.1 : 0.1) + t.get(i));
  return t.to_device(d);
}
// A shuffled ramp: every 2x2 window has a unique maximum, 0.05 above the runner-up or more.
Tensor ramp(const Shape& s, uint64_t seed, Device d, DType dt) {
  Tensor t = Tensor::empty(s, dt);
  Rng r(seed);
  std::vector<int64_t> perm(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[r.below(i)]);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, 0.05 * static_cast<double>(perm[static_cast<std::size_t>(i)]));
  return t.to_device(d);
}
Tensor filled(const Shape& s, double v, Device d, DType dt) { return Tensor::full(s, v, dt).to_device(d); }
Tensor nans(const Shape& s, Device d, DType dt) { return filled(s, NAN, d, dt); }
Wrt input(const char* name, const Tensor& x, Tol tol) { return {name, x, Tensor::empty_like(x), false, tol}; }
Wrt param(const char* name, const Tensor& p, Tol tol = {1e-3, 1e-4}) { return {name, p, Tensor::empty_like(p), true, tol}; }

void conv_cases(std::vector<OpCase>& v) {
  struct S {
    int N, C, H, W, K, R, pad;
    bool fd;
  };
  for (S c : {S{2, 3, 5, 4, 4, 3, 1, true}, S{1, 2, 4, 5, 3, 3, 0, true}, S{2, 3, 3, 3, 2, 1, 0, true},
              S{1, 1, 3, 3, 2, 3, 1, true},
              // 17 = 16 + 1 output and 9 = 8 + 1 input channels: every channel-block size of the
              // direct 3x3 CPU kernel (kernels/cpu/conv3x3_direct.h)
              S{1, 9, 5, 6, 17, 3, 1, true},
              S{1, 2, 3, 4, 3, 1, 1, true},  // 1x1 with padding: the im2col path
              // batch 1; odd sizes and channels; 1x1; the model's batch; > 12,288 weights (not staged in
              // shared memory by the CUDA kernel)
              S{1, 1, 28, 28, 8, 3, 0, false}, S{3, 13, 7, 9, 17, 3, 1, false}, S{2, 16, 24, 24, 8, 1, 0, false},
              S{128, 16, 8, 8, 16, 3, 0, false}, S{2, 32, 6, 5, 48, 3, 1, false},
              // wider than 32 and 130 rows of width 1: the CUDA v3 weight gradient's column bands
              // and its largest x band (130 x 3 values; kernels/cuda/conv2d.cu)
              S{2, 3, 4, 40, 2, 3, 1, false}, S{1, 2, 130, 1, 3, 3, 1, false}})
    v.push_back({str("conv2d N=%d C=%d %dx%d K=%d %dx%d pad %d", c.N, c.C, c.H, c.W, c.K, c.R, c.R, c.pad), "conv",
                 c.fd, [c](Device d, DType dt) {
                   const Shape ys{c.N, c.K, c.H + 2 * c.pad - c.R + 1, c.W + 2 * c.pad - c.R + 1};
                   Tensor x = randn({c.N, c.C, c.H, c.W}, 1, d, dt), w = randn({c.K, c.C, c.R, c.R}, 2, d, dt, 0.3),
                          b = randn({c.K}, 3, d, dt), y = nans(ys, d, dt);
                   OpRun r;
                   r.wrt = {input("x", x, {1e-4, 1e-4}), param("w", w), param("b", b)};
                   r.forward = [=]() mutable {
                     ops::conv2d_forward(y, x, w, b, c.pad);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad, dw = r.wrt[1].grad, db = r.wrt[2].grad;
                   r.backward = [=](const Tensor& u) mutable {
                     ops::conv2d_backward_data(dx, u, w, c.pad);
                     ops::conv2d_backward_weight(dw, &db, u, x, c.pad);
                   };
                   return r;
                 }});
}

void norm_cases(std::vector<OpCase>& v) {
  // BN: one value per channel pair of samples; the model's shape; odd channels (> 32, not a multiple);
  // 200 channels of 9 samples: the CUDA v2 reductions' ranges of 2 samples, the last of 1; channels
  // of 5,000 values: CUDA version 9's block of 640 threads with 8 values each; of 10,800, 16,384 and
  // 16,385 values: its block of 704 threads with 16 values each
  // (thread t's last one, t + 15 * 704, past the channel's end from t = 240 on), of 1,024 threads
  // all full, and the first size it leaves to version 5 (kernels/cuda/batchnorm_v9.cu). Group
  // "norm-large" (4.1M values: the CUDA test runs it on versions 5 to 8 only): versions 2-5 cut each
  // channel's 5 samples into ranges of 3 and 2 (4,800 values), over version 6's cap of 4,096
  // (kernels/cuda/batchnorm_parts.cuh), so version 6 takes ranges of 2, 2 and 1 samples.
  using B = std::tuple<int, int, int, int, bool, const char*>;
  for (auto [N, C, H, W, fd, group] :
       {B{4, 3, 3, 3, true, "norm"}, B{1, 2, 3, 5, true, "norm"}, B{5, 1, 1, 2, true, "norm"},
        B{1, 3, 1, 5, false, "norm"}, B{128, 16, 24, 24, false, "norm"}, B{7, 33, 3, 3, false, "norm"},
        B{9, 200, 2, 2, false, "norm"}, B{2, 3, 50, 50, false, "norm"}, B{3, 2, 60, 60, false, "norm"},
        B{1, 2, 128, 128, false, "norm"},
        B{1, 1, 5, 3277, false, "norm"}, B{5, 512, 40, 40, false, "norm-large"}})
    v.push_back({str("batchnorm N=%d C=%d %dx%d (train, backward, eval)", N, C, H, W), group, fd,
                 [=](Device d, DType dt) {
                   Tensor x = randn({N, C, H, W}, 5, d, dt, 2.0), g = randn({C}, 6, d, dt), b = randn({C}, 7, d, dt);
                   Tensor y = nans(x.shape(), d, dt), mean = nans({C}, d, dt), rstd = nans({C}, d, dt),
                          rm = filled({C}, 0.1, d, dt), rv = filled({C}, 1.2, d, dt), ye = nans(x.shape(), d, dt);
                   OpRun r;
                   r.wrt = {input("x", x, {1e-4, 1e-3}), param("gamma", g), param("beta", b)};
                   r.forward = [=]() mutable {
                     ops::batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, 1e-5, 0.1);
                     ops::batchnorm_forward_eval(ye, x, g, b, rm, rv, 1e-5);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad, dg = r.wrt[1].grad, db = r.wrt[2].grad;
                   r.backward = [=](const Tensor& u) mutable { ops::batchnorm_backward(dx, dg, db, u, mean, rstd, x, g); };
                   r.also = {{"mean", mean, {1e-5, 1e-4}},         {"rstd", rstd, {1e-5, 1e-4}},
                             {"running_mean", rm, {1e-5, 1e-4}}, {"running_var", rv, {1e-5, 1e-4}},
                             {"eval y", ye, {1e-4, 1e-4}}};
                   return r;
                 }});
  // GN: G = 1, 2 and C; HW = 64 makes a (sample, group) segment of 576 values, more than a block's 512 threads
  using G5 = std::tuple<int, int, int, int, bool, const char*>;
  for (auto [N, C, HW, G, fd, group] :
       {G5{2, 4, 6, 1, true, "norm"}, G5{2, 4, 6, 2, true, "norm"}, G5{2, 4, 6, 4, true, "norm"},
        G5{3, 18, 35, 1, false, "norm"}, G5{3, 18, 64, 2, false, "norm"}, G5{2, 18, 35, 18, false, "norm"},
        // segments of 2,500 values: the CUDA v2 kernels' 3 chunks per segment, the last shorter
        G5{2, 4, 1250, 2, false, "norm"},
        // a segment of 18,000 values (18 chunks): more than CUDA v8's one block takes (16,384; it runs v5)
        G5{1, 4, 4500, 1, false, "norm"},
        // planes of one value: 31 of the CUDA v3 kernel's 32 lanes idle; 30 planes, so its last block of 8
        // warps has 2 without a plane
        G5{5, 6, 1, 3, false, "norm"},
        // "norm-large" (4.3M values: the CUDA test runs it on version 7 only): 4 segments of 1,064,960
        // values, which versions 2-6 cut into 256 chunks of 4,160, over version 7's cap of 4,096
        // (kernels/cuda/norm_chunks_v7.cuh), so version 7 takes 260 chunks of 4,096
        G5{2, 8, 266240, 2, false, "norm-large"}})
    v.push_back({str("groupnorm N=%d C=%d HW=%d G=%d", N, C, HW, G), group, fd, [=](Device d, DType dt) {
                   Tensor x = randn({N, C, HW, 1}, 9, d, dt, 2.0), g = randn({C}, 10, d, dt), b = randn({C}, 11, d, dt);
                   Tensor y = nans(x.shape(), d, dt), mean = nans({N, G}, d, dt), rstd = nans({N, G}, d, dt);
                   OpRun r;
                   r.wrt = {input("x", x, {1e-4, 1e-3}), param("gamma", g), param("beta", b)};
                   r.forward = [=]() mutable {
                     ops::groupnorm_forward(y, mean, rstd, x, g, b, G, 1e-5);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad, dg = r.wrt[1].grad, db = r.wrt[2].grad;
                   r.backward = [=](const Tensor& u) mutable {
                     ops::groupnorm_backward(dx, dg, db, u, mean, rstd, x, g, G);
                   };
                   r.also = {{"mean", mean, {1e-5, 1e-4}}, {"rstd", rstd, {1e-5, 1e-4}}};
                   return r;
                 }});
  // LN: per-channel and per-element affine; N = 1; 12 x 100 = 1,200 values per sample (> 512)
  for (auto [N, C, H, W, fd] : {std::tuple{3, 2, 3, 3, true}, std::tuple{1, 5, 7, 7, false},
                                std::tuple{4, 12, 10, 10, false},
                                std::tuple{1, 5, 23, 23, false}})  // 2,645 values: 3 CUDA v2 chunks, the last shorter
    for (bool pe : {false, true})
      v.push_back({str("layernorm N=%d C=%d %dx%d %s affine", N, C, H, W, pe ? "per-element" : "per-channel"), "norm",
                   fd, [=](Device d, DType dt) {
                     const Shape ps = pe ? Shape{C, H, W} : Shape{C};
                     Tensor x = randn({N, C, H, W}, 13, d, dt, 2.0), g = randn(ps, 14, d, dt), b = randn(ps, 15, d, dt);
                     Tensor y = nans(x.shape(), d, dt), mean = nans({N}, d, dt), rstd = nans({N}, d, dt);
                     OpRun r;
                     r.wrt = {input("x", x, {1e-4, 1e-3}), param("gamma", g), param("beta", b)};
                     r.forward = [=]() mutable {
                       ops::layernorm_forward(y, mean, rstd, x, g, b, 1e-5);
                       return y;
                     };
                     Tensor dx = r.wrt[0].grad, dg = r.wrt[1].grad, db = r.wrt[2].grad;
                     r.backward = [=](const Tensor& u) mutable {
                       ops::layernorm_backward(dx, dg, db, u, mean, rstd, x, g);
                     };
                     r.also = {{"mean", mean, {1e-5, 1e-4}}, {"rstd", rstd, {1e-5, 1e-4}}};
                     return r;
                   }});
}

// A norm with the ReLU and dropout after it fused in (kernels/activation.h): each norm with ReLU and
// dropout (p = 0.3 or the model's 0.05; some with the mask seed read from a step counter) and with
// ReLU alone. Inputs are
// scaled so that z spreads over both signs; the names start with the norm's, so that the CUDA
// parity test runs them under every version of the norm (version 4 fuses, 1-3 compose).
void norm_act_cases(std::vector<OpCase>& v) {
  struct S {
    const char* norm;  // "batchnorm", "groupnorm", "layernorm" (per-channel) or "layernorm-pe" (per-element)
    int N, C, H, W, G;
    double p;
    bool counter, fd;
  };
  for (S c : {S{"batchnorm", 3, 2, 3, 3, 0, 0.3, false, true}, S{"batchnorm", 2, 3, 2, 2, 0, 0.0, false, true},
              S{"batchnorm", 32, 16, 12, 12, 0, 0.05, true, false}, S{"batchnorm", 7, 33, 3, 3, 0, 0.3, false, false},
              S{"batchnorm", 3, 2, 60, 60, 0, 0.3, true, false},
              S{"groupnorm", 2, 4, 6, 1, 2, 0.3, false, true}, S{"groupnorm", 2, 4, 6, 1, 1, 0.0, false, true},
              S{"groupnorm", 3, 18, 8, 8, 2, 0.3, true, false},
              // the model's first GN layer (batch 16) with its dropout; its last, ReLU only
              S{"groupnorm", 16, 8, 26, 26, 2, 0.05, true, false}, S{"groupnorm", 16, 12, 6, 6, 2, 0.0, true, false}, S{"groupnorm", 5, 6, 1, 1, 3, 0.3, false, false},
              S{"layernorm", 3, 2, 3, 3, 0, 0.3, false, true}, S{"layernorm-pe", 2, 2, 3, 2, 0, 0.0, false, true},
              S{"layernorm", 4, 12, 10, 10, 0, 0.3, true, false}, S{"layernorm-pe", 4, 12, 10, 10, 0, 0.3, false, false}})
    v.push_back({str("%s N=%d C=%d %dx%d%s + ReLU%s", c.norm, c.N, c.C, c.H, c.W,
                     c.G ? str(" G=%d", c.G).c_str() : "", c.p > 0 ? (c.counter ? " + dropout 0.3 (counter)" : " + dropout")
                                                                 : ""),
                 "norm", c.fd, [c](Device d, DType dt) {
                   const std::string norm = c.norm;
                   const bool bn = norm == "batchnorm", gn = norm == "groupnorm", pe = norm == "layernorm-pe";
                   const Shape ps = pe ? Shape{c.C, c.H, c.W} : Shape{c.C};
                   const Shape st = bn ? Shape{c.C} : gn ? Shape{c.N, c.G} : Shape{c.N};
                   Tensor x = randn({c.N, c.C, c.H, c.W}, 17, d, dt, 2.0), g = randn(ps, 18, d, dt),
                          b = randn(ps, 19, d, dt, 0.5);
                   Tensor y = nans(x.shape(), d, dt), mean = nans(st, d, dt), rstd = nans(st, d, dt),
                          rm = filled({c.C}, 0.1, d, dt), rv = filled({c.C}, 1.2, d, dt);
                   ops::Act act;
                   act.relu = true;
                   act.p = c.p;
                   act.seed = c.counter ? ops::MaskSeed(1000, 3, ints({5, 0}, d)) : ops::MaskSeed(99);
                   OpRun r;
                   r.wrt = {input("x", x, {1e-4, 1e-3}), param("gamma", g), param("beta", b)};
                   r.forward = [=]() mutable {
                     if (bn)
                       ops::batchnorm_act_forward_train(y, mean, rstd, rm, rv, x, g, b, 1e-5, 0.1, act);
                     else if (gn)
                       ops::groupnorm_act_forward(y, mean, rstd, x, g, b, c.G, 1e-5, act);
                     else
                       ops::layernorm_act_forward(y, mean, rstd, x, g, b, 1e-5, act);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad, dg = r.wrt[1].grad, db = r.wrt[2].grad;
                   r.backward = [=](const Tensor& u) mutable {
                     if (bn)
                       ops::batchnorm_act_backward(dx, dg, db, u, mean, rstd, y, x, g, b, act);
                     else if (gn)
                       ops::groupnorm_act_backward(dx, dg, db, u, mean, rstd, y, x, g, b, c.G, act);
                     else
                       ops::layernorm_act_backward(dx, dg, db, u, mean, rstd, y, x, g, b, act);
                   };
                   r.also = {{"mean", mean, {1e-5, 1e-4}}, {"rstd", rstd, {1e-5, 1e-4}}};
                   if (bn) r.also.push_back({"running_var", rv, {1e-5, 1e-4}});
                   return r;
                 }});
}

void pointwise_cases(std::vector<OpCase>& v) {
  const Shape odd{37, 1, 7, 9};  // max-pool drops the last row and column
  for (auto [s, fd] : {std::pair{Shape{2, 3, 4, 4}, true}, std::pair{odd, false}})
    v.push_back({"relu " + shape_str(s), "pointwise", fd, [s](Device d, DType dt) {
                   Tensor x = away_from_zero(s, 17, d, dt), y = nans(s, d, dt);
                   OpRun r;
                   r.wrt = {input("x", x, {0, 0})};
                   r.y_tol = {0, 0};
                   r.forward = [=]() mutable {
                     ops::relu_forward(y, x);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad;
                   r.backward = [=](const Tensor& u) mutable { ops::relu_backward(dx, u, y); };
                   return r;
                 }});
  for (auto [s, fd] : {std::pair{Shape{2, 2, 4, 4}, true}, std::pair{Shape{1, 3, 5, 3}, true}, std::pair{odd, false}})
    v.push_back({"maxpool 2x2 " + shape_str(s), "pointwise", fd, [s](Device d, DType dt) {
                   const Shape ys{s[0], s[1], s[2] / 2, s[3] / 2};
                   Tensor x = ramp(s, 18, d, dt), y = nans(ys, d, dt), am = filled(ys, -7, d, DType::i32);
                   OpRun r;
                   r.wrt = {input("x", x, {0, 0})};
                   r.y_tol = {0, 0};
                   r.forward = [=]() mutable {
                     ops::maxpool2x2_forward(y, am, x);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad;
                   r.backward = [=](const Tensor& u) mutable { ops::maxpool2x2_backward(dx, u, am); };
                   r.also = {{"argmax", am, {0, 0}}};
                   return r;
                 }});
  for (auto [s, fd] : {std::pair{Shape{2, 3, 3, 5}, true}, std::pair{odd, false}})
    v.push_back({"global average pool " + shape_str(s), "pointwise", fd, [s](Device d, DType dt) {
                   Tensor x = randn(s, 19, d, dt), y = nans({s[0], s[1], 1, 1}, d, dt);
                   OpRun r;
                   r.wrt = {input("x", x, {1e-6, 1e-6})};
                   r.y_tol = {1e-5, 1e-5};
                   r.forward = [=]() mutable {
                     ops::gap_forward(y, x);
                     return y;
                   };
                   Tensor dx = r.wrt[0].grad;
                   r.backward = [=](const Tensor& u) mutable { ops::gap_backward(dx, u); };
                   return r;
                 }});
  // A fixed seed makes dropout a fixed linear map (the same mask on both devices). Then ReLU and
  // dropout fused (the model's pair): inputs off ReLU's kink; its backward reads y.
  for (bool relu : {false, true})
    for (auto [s, fd] : {std::pair{Shape{3, 50}, true}, std::pair{odd, false}})
      v.push_back({std::string(relu ? "relu + " : "") + "dropout p=0.3 " + shape_str(s), "pointwise", fd,
                   [s, relu](Device d, DType dt) {
                     Tensor x = relu ? away_from_zero(s, 28, d, dt) : randn(s, 20, d, dt), y = nans(s, d, dt);
                     OpRun r;
                     r.wrt = {input("x", x, {0, 0})};
                     r.y_tol = {0, 0};
                     r.forward = [=]() mutable {
                       if (relu)
                         ops::relu_dropout_forward(y, x, 0.3, 99);
                       else
                         ops::dropout_forward(y, x, 0.3, 99);
                       return y;
                     };
                     Tensor dx = r.wrt[0].grad;
                     r.backward = [=](const Tensor& u) mutable {
                       if (relu)
                         ops::relu_dropout_backward(dx, u, y, 0.3);
                       else
                         ops::dropout_backward(dx, u, 0.3, 99);
                     };
                     return r;
                   }});
}

void train_cases(std::vector<OpCase>& v) {
  // Log-softmax + NLL: large logits (scale 30) test the max-shift; the loss is the scalar output.
  for (auto [N, scale, fd] : {std::tuple{4, 1.0, true}, std::tuple{4, 30.0, true}, std::tuple{1, 5.0, false},
                              std::tuple{129, 5.0, false}})
    v.push_back({str("log-softmax + NLL N=%d, logits x%g", N, scale), "train", fd, [=](Device d, DType dt) {
                   const int K = 10;
                   std::vector<double> lab(static_cast<std::size_t>(N));
                   for (int i = 0; i < N; ++i) lab[static_cast<std::size_t>(i)] = (i * 7 + 3) % K;
                   Tensor z = randn({N, K}, 26, d, dt, scale), labels = ints(lab, d), lp = nans({N, K}, d, dt),
                          loss = nans({1}, d, dt);
                   OpRun r;
                   r.wrt = {input("z", z, {1e-6, 1e-4})};
                   r.y_tol = {1e-5, 1e-5};
                   r.forward = [=]() mutable {
                     ops::log_softmax_nll_forward(lp, loss, z, labels);
                     return loss;
                   };
                   Tensor dz = r.wrt[0].grad;
                   r.backward = [=](const Tensor& u) mutable {
                     ops::log_softmax_nll_backward(dz, lp, labels, u.to_vector()[0]);
                   };
                   r.also = {{"logp", lp, {1e-5, 1e-5}}};
                   return r;
                 }});
  // L1 + L2 penalty: value[slot 1] += l1 sum|w| + l2/2 sum w^2; its backward adds to dw and takes no
  // upstream gradient, hence u = 1.
  for (auto [n, l1, l2, fd] : {std::tuple{30, 1e-2, 5e-3, true}, std::tuple{1000, 1e-3, 5e-4, false}})
    v.push_back({str("L1 + L2 penalty n=%d", n), "train", fd, [=](Device d, DType dt) {
                   Tensor w = away_from_zero({n}, 23, d, dt), value = filled({3}, 0.25, d, dt);
                   OpRun r;
                   r.wrt = {param("w", w, {1e-7, 1e-6})};
                   r.unit_upstream = true;
                   r.y_tol = {1e-5, 1e-5};
                   r.forward = [=]() mutable {
                     value.fill(0.25);
                     ops::penalty_forward(value, 1, w, l1, l2);
                     return value;
                   };
                   Tensor dw = r.wrt[0].grad;
                   r.backward = [=](const Tensor&) mutable { ops::penalty_backward(dw, w, l1, l2); };
                   return r;
                 }});
  // Forward-only ops (no gradient to check): parity only.
  // The penalty of consecutive segments of one buffer in one launch (the optimizer's terms): an
  // empty and a one-element segment, a slot left alone after them; 40 segments take two launches.
  for (auto [name, begin] :
       {std::pair{"5 segments, one empty", std::vector<int64_t>{0, 1, 300, 300, 613, 1000}},
        std::pair{"40 segments, two launches", [] {
                    std::vector<int64_t> b;
                    for (int64_t k = 0; k <= 40; ++k) b.push_back(25 * k);
                    return b;
                  }()}})
    v.push_back({str("L1 + L2 penalty of %s", name), "train", false, [begin](Device d, DType dt) {
                   const int64_t P = int64_t(begin.size()) - 1;
                   Tensor w = away_from_zero({begin.back()}, 27, d, dt), value = filled({P + 1}, 0.25, d, dt);
                   OpRun r;
                   r.y_tol = {1e-5, 1e-5};
                   r.forward = [=]() mutable {
                     value.fill(0.25);
                     ops::penalty_forward_segments(value, w, begin, 1e-3, 5e-4);
                     return value;
                   };
                   return r;
                 }});
  for (bool nesterov : {true, false})
    for (int64_t n_decay : {int64_t(0), int64_t(613)})  // the L1/L2 penalty fused in on the first 613 of 1000
      v.push_back({str("sgd step (%s, penalty on %lld of 1000)", nesterov ? "nesterov" : "plain momentum",
                       static_cast<long long>(n_decay)),
                   "train", false, [nesterov, n_decay](Device d, DType dt) {
                     Tensor w = randn({1000}, 24, d, dt), vel = randn({1000}, 25, d, dt), dw = randn({1000}, 26, d, dt);
                     OpRun r;
                     r.y_tol = {1e-6, 1e-6};
                     r.forward = [=]() mutable {
                       ops::sgd_step(w, vel, dw, n_decay, 1e-3, 1e-2, 0.05, 0.9, nesterov);
                       return w;
                     };
                     r.also = {{"velocity", vel, {1e-6, 1e-6}}};
                     return r;
                   }});
  v.push_back({"rotate 28x28 (augmentation)", "train", false, [](Device d, DType dt) {
                 const int N = 5;
                 Tensor img = randn({N, 1, 28, 28}, 21, d, dt), ang = randn({N}, 22, d, dt, 0.12),
                        y = nans(img.shape(), d, dt);
                 OpRun r;
                 r.y_tol = {1e-5, 1e-5};
                 r.forward = [=]() mutable {
                   ops::rotate_forward(y, img, ang, -0.42);
                   return y;
                 };
                 return r;
               }});
  v.push_back({"add in place", "train", false, [](Device d, DType dt) {
                 Tensor a = randn({1001}, 27, d, dt), b = randn({1001}, 28, d, dt);
                 OpRun r;
                 r.y_tol = {0, 0};
                 r.forward = [=]() mutable {
                   ops::add_inplace(a, b);
                   return a;
                 };
                 return r;
               }});
  v.push_back({"gather rows", "train", false, [](Device d, DType dt) {
                 const int M = 50;
                 std::vector<double> lab(M);
                 for (int i = 0; i < M; ++i) lab[static_cast<std::size_t>(i)] = i % 10;
                 Tensor x = randn({M, 1, 28, 28}, 29, d, dt), labels = ints(lab, d),
                        idx = ints({49, 0, 17, 17, 3, 48, 1}, d), y = nans({7, 1, 28, 28}, d, dt),
                        yl = filled({7}, -7, d, DType::i32);
                 OpRun r;
                 r.y_tol = {0, 0};
                 r.forward = [=]() mutable {
                   ops::gather_rows(y, yl, x, labels, idx);
                   return y;
                 };
                 r.also = {{"labels", yl, {0, 0}}};
                 return r;
               }});
  // The ops that read the step counter (kernels/step.h), as a CUDA Graph replays them: s = 2 picks
  // lr[2] and the seed of step 1000 + 2; b = 1 with batches of 4 picks rows 4..6 of the order and
  // the angles; step_advance moves the counter to {3, 2}.
  v.push_back({"ops reading the step counter (sgd, gather, rotate, dropout, advance)", "train", false,
               [](Device d, DType dt) {
                 const int M = 12;
                 std::vector<double> lab(M);
                 for (int i = 0; i < M; ++i) lab[static_cast<std::size_t>(i)] = (i * 7) % 10;
                 Tensor counter = ints({2, 1}, d), lr = Tensor::from({4}, {0.3, 0.1, 0.05, 0.7}, dt).to_device(d),
                        w = randn({300}, 31, d, dt), vel = randn({300}, 32, d, dt), dw = randn({300}, 33, d, dt),
                        x = randn({M, 1, 28, 28}, 34, d, dt), labels = ints(lab, d),
                        order = ints({11, 3, 0, 7, 9, 2, 5, 10, 1, 4}, d), angles = randn({10}, 35, d, dt, 0.2),
                        g = nans({3, 1, 28, 28}, d, dt), gl = filled({3}, -7, d, DType::i32),
                        rot = nans(g.shape(), d, dt), y = nans(g.shape(), d, dt);
                 OpRun r;
                 r.y_tol = {1e-5, 1e-5};
                 r.forward = [=]() mutable {
                   ops::sgd_step(w, vel, dw, 111, 1e-3, 1e-2, lr, counter, 0.9, true);
                   ops::gather_rows(g, gl, x, labels, order, counter, 4);
                   ops::rotate_forward(rot, g, angles, -0.42, counter, 4);
                   ops::dropout_forward(y, rot, 0.3, ops::MaskSeed(1000, 3, counter));
                   ops::step_advance(counter);
                   return y;
                 };
                 r.also = {{"sgd w", w, {1e-6, 1e-6}},
                           {"gathered rows", g, {0, 0}},
                           {"gathered labels", gl, {0, 0}},
                           {"counter", counter, {0, 0}}};
                 return r;
               }});
  for (int N : {1, 130})  // ties: a row of equal values must pick class 0, as std::max_element does
    v.push_back({str("epoch metrics N=%d", N), "train", false, [N](Device d, DType dt) {
                   const int K = 10;
                   Tensor lp = randn({N, K}, 30, Device::cpu, dt);
                   for (int k = 0; k < K; ++k) lp.set(k, -2.3);
                   std::vector<double> l(static_cast<std::size_t>(N));
                   for (int i = 0; i < N; ++i) l[static_cast<std::size_t>(i)] = (i * 3) % K;
                   Tensor acc = Tensor::from({2}, {1.5, 2.0}, DType::f64).to_device(d), logp = lp.to_device(d),
                          loss = filled({1}, 0.37, d, dt), pen = Tensor::from({3}, {1e-3, 2e-3, 5e-4}, dt).to_device(d),
                          labels = ints(l, d);
                   OpRun r;
                   r.y_tol = {0, 0};
                   r.forward = [=]() mutable {
                     ops::metrics_accumulate(acc, logp, loss, pen, labels);
                     return acc;
                   };
                   return r;
                 }});
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> v;
    conv_cases(v);
    norm_cases(v);
    norm_act_cases(v);
    pointwise_cases(v);
    train_cases(v);
    return v;
  }();
  return cases;
}

}  // namespace normlab::test
