// The CUDA kernels against the CPU kernels (the oracle), written once as a list of op cases over
// Tensors and run through the dispatcher on both devices: Device::cpu and Device::cuda, a real GPU
// or the CPU emulator (NORMLAB_CUDA_EMULATE). Each case builds its inputs from fixed seeds, fills
// its assigned outputs with NaN (and its accumulated ones with 0.5), runs its ops and returns the
// outputs; every output has its tolerance, |cuda - cpu| <= atol + rtol * |cpu| elementwise, and the
// max abs/rel errors are printed. Every case runs twice on the CUDA device and must give the same
// bits: on a GPU that is determinism; under the emulator the second run resumes the threads and
// blocks in the reverse order between barriers, so a race shows up as a difference.
// Without a usable GPU (and no emulator) this program prints SKIPPED and exits 77.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "kernels/dispatch.h"
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "layers/optim.h"
#include "tests/gpu_test.h"

using namespace normlab;

namespace {

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

// Inputs: the same values on either device (made on the CPU from a seed, then copied).
Tensor randn(const Shape& s, uint64_t seed, Device d, double scale = 1.0) {
  Tensor t = Tensor::empty(s);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * r.normal());
  return t.to_device(d);
}
Tensor filled(const Shape& s, double v, Device d, DType dt = DType::f32) { return Tensor::full(s, v, dt).to_device(d); }
Tensor nans(const Shape& s, Device d) { return filled(s, NAN, d); }
Tensor ints(const std::vector<double>& v, Device d) {
  return Tensor::from({static_cast<int64_t>(v.size())}, v, DType::i32).to_device(d);
}

std::string str(const char* fmt, auto... a) {
  char b[200];
  std::snprintf(b, sizeof b, fmt, a...);
  return b;
}

std::vector<OpCase> conv_cases() {
  struct S { int N, C, H, W, K, R, pad; };
  std::vector<OpCase> v;
  // batch 1; odd sizes and channels; 1x1; the model's batch; > 12,288 weights (not staged in shared memory)
  for (S c : {S{1, 1, 28, 28, 8, 3, 0}, S{3, 13, 7, 9, 17, 3, 1}, S{2, 16, 24, 24, 8, 1, 0}, S{128, 16, 8, 8, 16, 3, 0},
              S{2, 32, 6, 5, 48, 3, 1}}) {
    v.push_back({str("conv2d N=%d C=%d %dx%d K=%d %dx%d pad %d", c.N, c.C, c.H, c.W, c.K, c.R, c.R, c.pad),
                 [c](Device d) {
                   const int Ho = c.H + 2 * c.pad - c.R + 1, Wo = c.W + 2 * c.pad - c.R + 1;
                   Tensor x = randn({c.N, c.C, c.H, c.W}, 1, d), w = randn({c.K, c.C, c.R, c.R}, 2, d, 0.3),
                          b = randn({c.K}, 3, d), dy = randn({c.N, c.K, Ho, Wo}, 4, d);
                   Tensor y = nans({c.N, c.K, Ho, Wo}, d), dx = nans(x.shape(), d), dw = filled(w.shape(), 0.5, d),
                          db = filled({c.K}, 0.5, d);
                   ops::conv2d_forward(y, x, w, b, c.pad);
                   ops::conv2d_backward_data(dx, dy, w, c.pad);
                   ops::conv2d_backward_weight(dw, &db, dy, x, c.pad);
                   return Outs{{"y", y, 1e-4, 1e-4},
                               {"dx", dx, 1e-4, 1e-4},
                               {"dw (accumulated)", dw, 1e-3, 1e-4},
                               {"db (accumulated)", db, 1e-3, 1e-4}};
                 }});
  }
  return v;
}

std::vector<OpCase> norm_cases() {
  std::vector<OpCase> v;
  // BN: one value per channel pair of samples, the model's shape, odd channels (> 32, not a multiple)
  for (auto [N, C, H, W] : {std::tuple{1, 3, 1, 5}, std::tuple{128, 16, 24, 24}, std::tuple{7, 33, 3, 3}}) {
    v.push_back({str("batchnorm N=%d C=%d %dx%d", N, C, H, W), [=](Device d) {
                   Tensor x = randn({N, C, H, W}, 5, d, 2.0), g = randn({C}, 6, d), b = randn({C}, 7, d),
                          dy = randn(x.shape(), 8, d);
                   Tensor y = nans(x.shape(), d), mean = nans({C}, d), rstd = nans({C}, d), rm = filled({C}, 0.1, d),
                          rv = filled({C}, 1.2, d), ye = nans(x.shape(), d), dx = nans(x.shape(), d),
                          dg = filled({C}, 0.5, d), db = filled({C}, 0.5, d);
                   ops::batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, 1e-5, 0.1);
                   ops::batchnorm_backward(dx, dg, db, dy, mean, rstd, x, g);
                   ops::batchnorm_forward_eval(ye, x, g, b, rm, rv, 1e-5);
                   return Outs{{"y", y, 1e-4, 1e-4},          {"mean", mean, 1e-5, 1e-4},
                               {"rstd", rstd, 1e-5, 1e-4},    {"running_mean", rm, 1e-5, 1e-4},
                               {"running_var", rv, 1e-5, 1e-4}, {"eval y", ye, 1e-4, 1e-4},
                               {"dx", dx, 1e-4, 1e-3},        {"dgamma (accumulated)", dg, 1e-3, 1e-4},
                               {"dbeta (accumulated)", db, 1e-3, 1e-4}};
                 }});
  }
  // GN: G = 1, 2 and C; HW = 64 makes a (sample, group) segment of 576 values, more than a block's 512 threads
  for (auto [N, C, HW, G] : {std::tuple{3, 18, 35, 1}, std::tuple{3, 18, 64, 2}, std::tuple{2, 18, 35, 18}}) {
    v.push_back({str("groupnorm N=%d C=%d HW=%d G=%d", N, C, HW, G), [=](Device d) {
                   Tensor x = randn({N, C, HW, 1}, 9, d, 2.0), g = randn({C}, 10, d), b = randn({C}, 11, d),
                          dy = randn(x.shape(), 12, d);
                   Tensor y = nans(x.shape(), d), mean = nans({N, G}, d), rstd = nans({N, G}, d),
                          dx = nans(x.shape(), d), dg = filled({C}, 0.5, d), db = filled({C}, 0.5, d);
                   ops::groupnorm_forward(y, mean, rstd, x, g, b, G, 1e-5);
                   ops::groupnorm_backward(dx, dg, db, dy, mean, rstd, x, g, G);
                   return Outs{{"y", y, 1e-4, 1e-4},       {"mean", mean, 1e-5, 1e-4},
                               {"rstd", rstd, 1e-5, 1e-4}, {"dx", dx, 1e-4, 1e-3},
                               {"dgamma", dg, 1e-3, 1e-4}, {"dbeta", db, 1e-3, 1e-4}};
                 }});
  }
  // LN: per-channel and per-element affine, N = 1 and N = 4; 12 x 100 = 1,200 values per sample (> 512)
  for (auto [N, C, H, W] : {std::tuple{1, 5, 7, 7}, std::tuple{4, 12, 10, 10}})
    for (bool pe : {false, true}) {
      v.push_back({str("layernorm N=%d C=%d %dx%d %s affine", N, C, H, W, pe ? "per-element" : "per-channel"),
                   [=](Device d) {
                     const Shape ps = pe ? Shape{C, H, W} : Shape{C};
                     Tensor x = randn({N, C, H, W}, 13, d, 2.0), g = randn(ps, 14, d), b = randn(ps, 15, d),
                            dy = randn(x.shape(), 16, d);
                     Tensor y = nans(x.shape(), d), mean = nans({N}, d), rstd = nans({N}, d), dx = nans(x.shape(), d),
                            dg = filled(ps, 0.5, d), db = filled(ps, 0.5, d);
                     ops::layernorm_forward(y, mean, rstd, x, g, b, 1e-5);
                     ops::layernorm_backward(dx, dg, db, dy, mean, rstd, x, g);
                     return Outs{{"y", y, 1e-4, 1e-4},       {"mean", mean, 1e-5, 1e-4},
                                 {"rstd", rstd, 1e-5, 1e-4}, {"dx", dx, 1e-4, 1e-3},
                                 {"dgamma", dg, 1e-3, 1e-4}, {"dbeta", db, 1e-3, 1e-4}};
                   }});
    }
  return v;
}

std::vector<OpCase> pointwise_cases() {
  std::vector<OpCase> v;
  v.push_back({"relu, maxpool 2x2 (odd sizes), global average pool, dropout", [](Device d) {
                 const int P = 37, H = 7, W = 9;  // maxpool drops the last row and column
                 Tensor x = randn({P, 1, H, W}, 17, d), dy = randn(x.shape(), 18, d),
                        dyo = randn({P, 1, H / 2, W / 2}, 19, d), dyg = randn({P, 1, 1, 1}, 20, d);
                 Tensor r = nans(x.shape(), d), dr = nans(x.shape(), d), mp = nans(dyo.shape(), d),
                        am = filled(dyo.shape(), -7, d, DType::i32), dmp = nans(x.shape(), d),
                        ga = nans({P, 1, 1, 1}, d), dga = nans(x.shape(), d), dro = nans(x.shape(), d),
                        drb = nans(x.shape(), d);
                 ops::relu_forward(r, x);
                 ops::relu_backward(dr, dy, r);
                 ops::maxpool2x2_forward(mp, am, x);
                 ops::maxpool2x2_backward(dmp, dyo, am);
                 ops::gap_forward(ga, x);
                 ops::gap_backward(dga, dyg);
                 ops::dropout_forward(dro, x, 0.3, 99);
                 ops::dropout_backward(drb, dy, 0.3, 99);
                 return Outs{{"relu y", r, 0, 0},
                             {"relu dx", dr, 0, 0},
                             {"maxpool y", mp, 0, 0},
                             {"maxpool argmax", am, 0, 0},
                             {"maxpool dx", dmp, 0, 0},
                             {"gap y", ga, 1e-5, 1e-5},
                             {"gap dx", dga, 1e-6, 1e-6},
                             {"dropout y (same mask as the cpu)", dro, 0, 0},
                             {"dropout dx", drb, 0, 0}};
               }});
  v.push_back({"rotate 28x28 (augmentation)", [](Device d) {
                 const int N = 5;
                 Tensor img = randn({N, 1, 28, 28}, 21, d), ang = randn({N}, 22, d, 0.12), y = nans(img.shape(), d);
                 ops::rotate_forward(y, img, ang, -0.42);
                 return Outs{{"y", y, 1e-5, 1e-5}};
               }});
  for (bool nesterov : {true, false})
    v.push_back({str("penalty and sgd (%s)", nesterov ? "nesterov" : "plain momentum"), [nesterov](Device d) {
                   Tensor w = randn({1000}, 23, d), vel = randn({1000}, 24, d), dw = randn({1000}, 25, d),
                          pv = filled({3}, 0.25, d);
                   ops::penalty_backward(dw, w, 1e-3, 5e-4);
                   ops::penalty_forward(pv, 1, w, 1e-3, 5e-4);
                   ops::sgd_step(w, vel, dw, 0.05, 0.9, nesterov);
                   return Outs{{"penalty dw (accumulated)", dw, 1e-7, 1e-6},
                               {"penalty value (slot 1 accumulated)", pv, 1e-5, 1e-5},
                               {"sgd w", w, 1e-6, 1e-6},
                               {"sgd velocity", vel, 1e-6, 1e-6}};
                 }});
  for (int N : {1, 129})
    v.push_back({str("log-softmax + NLL, N=%d", N), [N](Device d) {
                   const int K = 10;
                   std::vector<double> lab(N);
                   for (int i = 0; i < N; ++i) lab[i] = (i * 7) % K;
                   Tensor z = randn({N, K}, 26, d, 5.0), labels = ints(lab, d), lp = nans(z.shape(), d),
                          loss = nans({1}, d), dz = nans(z.shape(), d);
                   ops::log_softmax_nll_forward(lp, loss, z, labels);
                   ops::log_softmax_nll_backward(dz, lp, labels, 1.0);
                   return Outs{{"logp", lp, 1e-5, 1e-5}, {"loss", loss, 1e-5, 1e-5}, {"dz", dz, 1e-6, 1e-4}};
                 }});
  v.push_back({"add, gather rows", [](Device d) {
                 Tensor a = randn({1001}, 27, d), b = randn({1001}, 28, d);
                 ops::add_inplace(a, b);
                 const int M = 50;
                 std::vector<double> lab(M);
                 for (int i = 0; i < M; ++i) lab[i] = i % 10;
                 Tensor x = randn({M, 1, 28, 28}, 29, d), labels = ints(lab, d), idx = ints({49, 0, 17, 17, 3, 48, 1}, d),
                        y = nans({7, 1, 28, 28}, d), yl = filled({7}, -7, d, DType::i32);
                 ops::gather_rows(y, yl, x, labels, idx);
                 return Outs{{"add (accumulated)", a, 0, 0}, {"gather y", y, 0, 0}, {"gather labels", yl, 0, 0}};
               }});
  for (int N : {1, 130})  // ties: a row of equal values must pick class 0, as std::max_element does
    v.push_back({str("epoch metrics, N=%d", N), [N](Device d) {
                   const int K = 10;
                   Tensor lp = randn({N, K}, 30, d).to_device(Device::cpu);
                   for (int k = 0; k < K; ++k) lp.set(k, -2.3);
                   std::vector<double> l(N);
                   for (int i = 0; i < N; ++i) l[i] = (i * 3) % K;
                   Tensor acc = Tensor::from({2}, {1.5, 2.0}, DType::f64).to_device(d);
                   ops::metrics_accumulate(acc, lp.to_device(d), filled({1}, 0.37, d),
                                           Tensor::from({3}, {1e-3, 2e-3, 5e-4}).to_device(d), ints(l, d));
                   return Outs{{"loss and correct sums (f64, accumulated)", acc, 0, 0}};
                 }});
  return v;
}

// One training step of the whole model per norm: every parameter's gradient, then after SGD.
std::vector<OpCase> model_cases() {
  std::vector<OpCase> v;
  for (const NormSpec& spec : norm_table())
    v.push_back({"model training step, " + std::string(spec.name) + ", batch 3", [norm = spec.norm](Device d) {
                   const int N = 3;  // odd batch
                   std::vector<double> lab(N);
                   for (int i = 0; i < N; ++i) lab[i] = (i * 4) % 10;
                   Tensor images = randn({N, 1, 28, 28}, 11, Device::cpu), labels = ints(lab, Device::cpu);
                   Rng rng(7);
                   NetConfig nc;
                   nc.norm = norm;
                   auto net = build_mnist_net(nc, rng);
                   move_to(*net, d);
                   SgdConfig oc;
                   oc.l1 = 1e-4;
                   Sgd opt(net->parameters(), oc);
                   Tape tape;
                   Context ctx{&tape, true, 123};
                   Var x = make_var(images.to_device(d));
                   x->requires_grad = false;
                   LossResult lr = nll_loss(net->forward(x, ctx), labels.to_device(d), ctx);
                   opt.zero_grad();
                   tape.backward();
                   Outs o{{"loss", Tensor::from({1}, {lr.value()}), 1e-4, 1e-4}};
                   int i = 0;
                   for (auto& p : net->parameters()) o.push_back({str("parameter %d grad", i++), p->grad.clone(), 1e-4, 1e-3});
                   opt.step(0.05);
                   i = 0;
                   for (auto& p : net->parameters()) o.push_back({str("parameter %d after SGD", i++), p->value, 1e-5, 1e-4});
                   return o;
                 }});
  return v;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

void check_case(const OpCase& c) {
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

}  // namespace

int main(int argc, char** argv) {
  const int rc = test::run_on_gpu(argc, argv, "the cuda tests");
  test::print_kernels_run();
  return rc;
}

TEST_CASE("cuda conv2d vs cpu: forward, backward-data, backward-weight", "[cuda][conv]") {
  for (const auto& c : conv_cases()) check_case(c);
}
TEST_CASE("cuda batch, group and layer norm vs cpu: forward, statistics, backward", "[cuda][norm]") {
  for (const auto& c : norm_cases()) check_case(c);
}
TEST_CASE("cuda element-wise, loss, optimizer and data ops vs cpu", "[cuda][pointwise]") {
  for (const auto& c : pointwise_cases()) check_case(c);
}
TEST_CASE("cuda through the dispatcher: one training step of the model matches the cpu", "[cuda][model]") {
  for (const auto& c : model_cases()) check_case(c);
  // The caching allocator serves a repeated step from its free lists: no new cudaMalloc.
  const auto before = cuda_memory_stats().mallocs;
  model_cases()[0].run(Device::cuda);
  CHECK(cuda_memory_stats().mallocs == before);
}
