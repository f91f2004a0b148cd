// The CUDA kernels against the CPU kernels (the oracle): every op case of tests/op_cases.cpp (the
// list the gradient check uses too) and a training step of the model, run through the dispatcher on
// both devices: Device::cpu and Device::cuda, a real GPU or the CPU emulator (NORMLAB_CUDA_EMULATE).
// Each case builds its inputs from fixed seeds, fills its assigned outputs with NaN (and its
// accumulated ones with 0.5), runs its ops and returns the outputs; every output has its tolerance, |cuda - cpu| <= atol + rtol * |cpu| elementwise, and the
// max abs/rel errors are printed. Every case runs twice on the CUDA device and must give the same
// bits: on a GPU that is determinism; under the emulator the second run resumes the threads and
// blocks in the reverse order between barriers, so a race shows up as a difference.
// CUDA Graphs: a captured training step replayed gives the bits of the same steps launched op by op,
// with and without the weight gradients on a second stream (branches), and the memory a graph
// replays is kept from other tensors while the graph lives.
// Without a usable GPU (and no emulator) this program prints SKIPPED and exits 77.
#define CATCH_CONFIG_RUNNER
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "layers/optim.h"
#include "kernels/activation.h"
#include "kernels/add.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/gather.h"
#include "kernels/groupnorm.h"
#include "kernels/step.h"
#include "kernels/cuda/versions.h"
#include "tests/gpu_test.h"
#include "tests/op_cases.h"

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

using test::ints;
using test::randn;
using test::str;

// An op case of tests/op_cases.cpp on one device: forward, then backward with the upstream gradient
// u (the same values on every device), gradients pre-filled (NaN: assigned; 0.5: accumulated); its
// outputs in a fixed order: y, the gradients, the other outputs.
Outs run_op(const test::OpCase& c, Device d) {
  test::OpRun r = c.make(d, DType::f32);
  for (auto& w : r.wrt) w.grad.fill(w.accumulates ? 0.5 : NAN);
  Tensor y = r.forward();
  Outs o{{"y", y, r.y_tol.atol, r.y_tol.rtol}};
  if (r.backward) {
    r.backward(r.unit_upstream ? Tensor::full(y.shape(), 1.0).to_device(d) : randn(y.shape(), 99, d));
    for (const auto& w : r.wrt)
      o.push_back({"d" + w.name + (w.accumulates ? " (accumulated)" : ""), w.grad, w.tol.atol, w.tol.rtol});
  }
  for (const auto& a : r.also) o.push_back({a.name, a.t, a.tol.atol, a.tol.rtol});
  return o;
}

std::vector<OpCase> op_group(const std::string& group) {
  std::vector<OpCase> v;
  for (const test::OpCase& c : test::op_cases())
    if (c.group == group) v.push_back({c.name, [&c](Device d) { return run_op(c, d); }});
  REQUIRE(!v.empty());
  return v;
}

// The model of `norm` with fixed initial weights, on device d, and its optimizer's settings.
std::unique_ptr<Sequential> test_model(Norm norm, Device d) {
  Rng rng(7);
  NetConfig nc;
  nc.norm = norm;
  auto net = build_mnist_net(nc, rng);
  move_to(*net, d);
  return net;
}
SgdConfig with_l1() {
  SgdConfig oc;
  oc.l1 = 1e-4;
  return oc;
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
                   auto net = test_model(norm, d);
                   Sgd opt(net->parameters(), with_l1());
                   Tape tape;
                   Context ctx{&tape, true, 123, Tensor()};
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

// Runs the cases of `group` whose name starts with `prefix` under every version of CUDA op `op`
// (kernels/cuda/versions.h), then selects the one selected before again.
static void check_every_version(const std::string& op, const std::string& group, const std::string& prefix) {
  REQUIRE(cuda::kernel_version_count(op) >= 1);
  cuda::for_each_version(op, [&](int v) {
    std::printf("-- %s version %d\n", op.c_str(), v);
    for (const auto& c : op_group(group))
      if (c.name.rfind(prefix, 0) == 0) check_case(c);
  });
}

TEST_CASE("cuda conv2d vs cpu: forward, backward-data, backward-weight, every version", "[cuda][conv]") {
  check_every_version("conv2d", "conv", "conv2d");
  CHECK_THROWS_WITH(cuda::set_kernel_version("conv2d", 9), "CUDA op conv2d has versions 1 to 4, not 9");
}
TEST_CASE("cuda batch, group and layer norm vs cpu: forward, statistics, backward", "[cuda][norm]") {
  check_every_version("batchnorm", "norm", "batchnorm");
  check_every_version("groupnorm", "norm", "groupnorm");
  check_every_version("layernorm", "norm", "layernorm");
  for (const auto& c : op_group("norm"))  // any other norm case: the selected versions
    if (c.name.rfind("batchnorm", 0) != 0 && c.name.rfind("groupnorm", 0) != 0 && c.name.rfind("layernorm", 0) != 0)
      check_case(c);
}
// Version 8 takes version 6's ranges: on the emulator (which rounds every operation as written) its
// bits here are version 6's, in chunks of one channel (the emulator reports no L2).
TEST_CASE("cuda batch norm vs cpu: version 6's ranges capped at 4,096 values (version 5's hold 4,800)",
          "[cuda][norm]") {
  std::map<int, Outs> outs;
  cuda::for_each_version("batchnorm", [&](int v) {
    if (v < 5) return;  // the older versions take version 5's ranges, tested above; this case is large
    std::printf("-- batchnorm version %d\n", v);
    for (const auto& c : op_group("norm-large")) {
      check_case(c);
#ifdef NORMLAB_CUDA_EMULATE
      if (v == 6 || v == 8) outs[v] = c.run(Device::cuda);
#endif
    }
  });
#ifdef NORMLAB_CUDA_EMULATE
  REQUIRE(outs.size() == 2);
  REQUIRE(outs[6].size() == outs[8].size());
  for (std::size_t k = 0; k < outs[8].size(); ++k) {
    INFO(outs[8][k].name << ": version 8 against version 6");
    CHECK(same_bits(outs[6][k].t.to_vector(), outs[8][k].t.to_vector()));
  }
#endif
}
// Version 4 fuses the activation into the norm's passes and recomputes z and the mask in its
// backward; versions 1-3 compose the norm with the activation's kernels. Version 4 computes the
// same expressions in the same order as version 3, so on the emulator, which rounds every
// operation as written (-ffp-contract=off, CMakeLists.txt), it must give version 3's bits: a mask
// recomputed differently from the forward's, anywhere, would show here. Version 5 runs the
// element-wise passes on quads of four values (kernels/cuda/vec4.cuh), the same expressions per
// value: version 4's bits, for the *_act ops and the plain ones (version 4's plain ops are version
// 3's), and a quad given the wrong channel, segment or parameter would show. Batch norm's version 6
// runs each direction as one kernel (kernels/cuda/batchnorm_v6.cu) from the same code as version 5's
// partial sums, finishing stages and per-value expressions; the test cases' ranges are version 5's
// (bn::ranges_v6), so it must give version 5's bits: a range, a channel or a coefficient taken
// from the wrong item would show. Version 7 (compared with 6) folds version 5's finishing warp into
// the element-wise pass: the same sums and expressions, version 5's bits; so does group and layer
// norm's version 6 (kernels/cuda/norm_finish_v6.cuh), where a block given another block's segment
// statistics or means would show. Batch norm's version 8 (compared with 7) runs version 7's blocks
// in chunks of channels, with version 6's ranges, which on these cases are version 5's.
// Emulator only: nvcc fuses multiply-adds per kernel as it sees fit, so on a GPU the versions may
// differ in the last bits (the parity with the CPU above is the check there).
#ifdef NORMLAB_CUDA_EMULATE
TEST_CASE("cuda norms: version 4 (fused) gives version 3's (composed) bits, version 5 (quads) version 4's, "
          "batch norm's version 6 (one kernel), 7 (finishing folded in) and 8 (channel chunks) version 5's, group "
          "and layer norm's "
          "version 6 (finishing folded in) version 5's",
          "[cuda][norm]") {
  for (const std::string op : {"batchnorm", "groupnorm", "layernorm"})
    for (const auto& c : op_group("norm")) {
      if (c.name.rfind(op, 0) != 0) continue;
      std::vector<Outs> by_version(1);
      cuda::for_each_version(op, [&](int) { by_version.push_back(c.run(Device::cuda)); });
      for (int v = 4; v < int(by_version.size()); ++v) {
        const Outs &before = by_version[std::size_t(v - 1)], &now = by_version[std::size_t(v)];
        REQUIRE(before.size() == now.size());
        for (std::size_t k = 0; k < now.size(); ++k) {
          INFO(c.name << ": " << now[k].name << ", version " << v << " against " << v - 1);
          CHECK(same_bits(before[k].t.to_vector(), now[k].t.to_vector()));
        }
      }
    }
  // The quads, batch norm's versions 6 and 7 and group and layer norm's 6 ran, for the plain ops and
  // the *_act ops (quads: the cases with HW % 4 == 0).
  std::map<std::string, int64_t> ran;
  for (const auto& [name, count] : emu::kernel_counts()) ran[name] = count;
  for (const char* k :
       {"bn_apply_v5<false>", "bn_bwd_dx_v5<false>", "seg_apply_v5<false>", "seg_bwd_dx_v5<false>", "bn_apply_v5<true>",
        "bn_bwd_dx_v5<true>", "seg_apply_v5<true>", "seg_bwd_dx_v5<true>", "bn_forward_v6<false>",
        "bn_backward_v6<false>", "bn_forward_v6<true>", "bn_backward_v6<true>", "bn_apply_finish_v7<false>",
        "bn_bwd_dx_finish_v7<false>", "bn_apply_finish_v7<true>", "bn_bwd_dx_finish_v7<true>",
        "seg_apply_finish_v6<false>", "seg_bwd_dx_finish_v6<false>", "seg_apply_finish_v6<true>",
        "seg_bwd_dx_finish_v6<true>", "bn_forward_v8<false>", "bn_backward_v8<false>", "bn_forward_v8<true>",
        "bn_backward_v8<true>"}) {
    INFO(k);
    CHECK(ran[k] > 0);
  }
}

// Batch norm's version 8 (kernels/cuda/batchnorm_v8.cu) runs version 7's blocks in chunks of
// channels: chunks + 1 launches each way, a chunk's element-wise pass one launch after its partial
// sums. The chunk size comes from the L2 plan (cuda::set_l2_plan_bytes; the emulator reports no L2,
// so by default every chunk is one channel). Whatever the chunks — one channel, two, a last one
// shorter, the whole tensor — each block computes what it computes in version 7, so every batch
// norm case (plain and + ReLU) must give version 7's bits: a pass launched before its chunk's
// partial sums, or a channel left out or run twice, would show. The 7 x 33 x 3 x 3 cases also
// count the launches: per channel 7 * 9 floats, times 3 tensors forward (756 bytes) and 5 backward
// (1,260 bytes), so a plan of 2,000 bytes gives chunks of 2 channels forward (17 chunks, 18
// launches) and 1 backward (34 launches); 20,000 bytes chunks of 26 forward (3 launches) and 15
// backward (4); no L2 (0) 1 channel each way; 2^40 bytes one chunk, version 7's 2 launches. Each
// plan runs with the launches' blocks in order and reversed: a pass that read partial sums of its
// own launch would see them written in one order and not in the other.
TEST_CASE("cuda batch norm: version 8 (channel chunks through L2) gives version 7's bits on every chunk size",
          "[cuda][norm]") {
  const cuda::VersionGuard guard("batchnorm");
  const auto launches = [](const char* dir) {
    int64_t n = 0;
    for (const auto& [name, count] : emu::kernel_counts())
      if (name == std::string("bn_") + dir + "_v8<false>" || name == std::string("bn_") + dir + "_v8<true>") n += count;
    return n;
  };
  struct Plan {
    std::size_t bytes;
    int64_t forward, backward;  // launches for the 7 x 33 x 3 x 3 cases
  };
  int counted = 0;
  for (const auto& c : op_group("norm")) {
    if (c.name.rfind("batchnorm", 0) != 0) continue;
    cuda::set_kernel_version("batchnorm", 7);
    const Outs want = c.run(Device::cuda);
    cuda::set_kernel_version("batchnorm", 8);
    for (const Plan p : {Plan{0, 34, 34}, Plan{2000, 18, 34}, Plan{20000, 3, 4}, Plan{std::size_t(1) << 40, 2, 2}})
      for (const bool reverse : {false, true}) {  // a launch's blocks in order and reversed: a race
        cuda::set_l2_plan_bytes(p.bytes);
        test::set_emulated_order(reverse);
        const int64_t f0 = launches("forward"), b0 = launches("backward");
        const Outs got = c.run(Device::cuda);
        test::set_emulated_order(false);
        INFO(c.name << ", L2 plan " << p.bytes << " bytes, blocks " << (reverse ? "reversed" : "in order"));
        if (c.name.find("N=7 C=33 3x3") != std::string::npos) {
          CHECK(launches("forward") - f0 == p.forward);
          CHECK(launches("backward") - b0 == p.backward);
          ++counted;
        } else {
          CHECK(launches("forward") > f0);
        }
        REQUIRE(got.size() == want.size());
        for (std::size_t k = 0; k < got.size(); ++k) {
          INFO(got[k].name);
          CHECK(same_bits(want[k].t.to_vector(), got[k].t.to_vector()));
        }
      }
  }
  CHECK(counted == 16);  // the plain and the + ReLU case, 4 plans each, in both orders
}

// Conv2d's version 4 (one thread per output position, kernels/cuda/conv2d.cu) adds each output's
// taps in version 2's order and leaves out only the taps version 2 takes from its zero padding,
// which add exactly +0 there: on the emulator, which rounds every operation as written, its
// forward and data gradient give version 2's bits, and its weight gradient (version 3's kernels)
// version 3's. The op cases' shapes (above) give version 4 one output channel per thread; these
// take the other counts too (positions / 128 blocks times the channel blocks against 512): 8
// channels of 1024 images of 8 x 8 give 8 channels per thread, of 600 images 4, of 300 images 2;
// a 1 x 1 and a padded 3 x 3 convolution, and data gradients of 8 input channels likewise.
TEST_CASE("cuda conv2d: version 4 (a thread per output position) gives version 2's bits, forward and data gradient, "
          "on every channel count per thread",
          "[cuda][conv]") {
  struct S {
    int N, C, H, W, K, R, pad;
  };
  for (S c : {S{1024, 2, 10, 10, 8, 3, 0}, S{600, 2, 10, 10, 8, 3, 0}, S{300, 2, 10, 10, 8, 3, 0},
              S{600, 3, 8, 8, 8, 1, 0}, S{300, 8, 8, 8, 3, 3, 1}, S{5, 3, 7, 9, 17, 3, 1}}) {
    const Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.pad};
    INFO(str("N=%d C=%d %dx%d K=%d %dx%d pad %d", c.N, c.C, c.H, c.W, c.K, c.R, c.R, c.pad));
    const Shape ys{c.N, c.K, s.Ho(), s.Wo()};
    const Tensor x = randn({c.N, c.C, c.H, c.W}, 1, Device::cuda), w = randn({c.K, c.C, c.R, c.R}, 2, Device::cuda),
                 b = randn({c.K}, 3, Device::cuda), dy = randn(ys, 4, Device::cuda);
    auto run = [&](int v) {
      cuda::set_kernel_version("conv2d", v);
      Tensor y = Tensor::full(ys, NAN).to_device(Device::cuda), dx = Tensor::full(x.shape(), NAN).to_device(Device::cuda);
      Tensor dw = Tensor::zeros(w.shape(), DType::f32, Device::cuda), db = Tensor::zeros({c.K}, DType::f32, Device::cuda);
      cuda::conv2d_forward<float>(y.data<float>(), x.data<float>(), w.data<float>(), b.data<float>(), s);
      cuda::conv2d_backward_data<float>(dx.data<float>(), dy.data<float>(), w.data<float>(), s);
      cuda::conv2d_backward_weight<float>(dw.data<float>(), db.data<float>(), dy.data<float>(), x.data<float>(), s);
      return std::vector<std::vector<double>>{y.to_vector(), dx.to_vector(), dw.to_vector(), db.to_vector()};
    };
    const cuda::VersionGuard guard("conv2d");
    const auto v2 = run(2), v3 = run(3), v4 = run(4);
    const auto finite = [](const std::vector<double>& v) {
      return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
    };
    REQUIRE(finite(v4[0]));  // every output written (y and dx start as NaN)
    REQUIRE(finite(v4[1]));
    CHECK(same_bits(v4[0], v2[0]));  // y
    CHECK(same_bits(v4[1], v2[1]));  // dx
    CHECK(same_bits(v4[2], v3[2]));  // dw (version 3's kernels)
    CHECK(same_bits(v4[3], v3[3]));  // db
  }
}

// Version 5 takes quads only from 16-byte aligned pointers (a misaligned float4 access faults, on a
// GPU and on the emulator): with every tensor one float past an aligned address it runs version 4's
// kernels, and gives the bits it gives from aligned ones. Batch norm's version 6 likewise reads one
// value per thread there, and versions 7 and 8 too; group norm's version 6 runs version 5 there.
TEST_CASE("cuda norm + activation: versions 5 and up from misaligned pointers fall back to one value per thread",
          "[cuda][norm]") {
  const int N = 2, C = 3, HW = 16, G = 3;
  const int64_t n = int64_t(N) * C * HW;
  const std::vector<double> hx = randn({n}, 5, Device::cpu, DType::f32, 2.0).to_vector(),
                            hu = randn({n}, 6, Device::cpu).to_vector();
  // n + 1 floats holding v from float `shift` on
  auto at = [&](const std::vector<double>& v, int shift) {
    std::vector<double> w(std::size_t(n + 1), 0.0);
    std::copy(v.begin(), v.end(), w.begin() + shift);
    return Tensor::from({n + 1}, w).to_device(Device::cuda);
  };
  const Tensor g = randn({C}, 7, Device::cuda), b = randn({C}, 8, Device::cuda, DType::f32, 0.5);
  Activation<float> act;
  act.relu = true;
  act.p = 0.3f;
  act.seed.base = 99;
  // shift 0: x, dy, y and dx aligned; shift 1: all four one float past it
  auto run = [&](int shift, bool bn) {
    Tensor y = Tensor::zeros({n + 1}, DType::f32, Device::cuda), dx = Tensor::zeros({n + 1}, DType::f32, Device::cuda);
    Tensor mean = Tensor::zeros({N * G}, DType::f32, Device::cuda),
           rstd = Tensor::zeros({N * G}, DType::f32, Device::cuda);
    Tensor rm = Tensor::zeros({C}, DType::f32, Device::cuda), rv = Tensor::zeros({C}, DType::f32, Device::cuda);
    Tensor dg = Tensor::zeros({C}, DType::f32, Device::cuda), db = Tensor::zeros({C}, DType::f32, Device::cuda);
    const Tensor x0 = at(hx, shift), u0 = at(hu, shift);
    const float *xs = x0.data<float>() + shift, *us = u0.data<float>() + shift;
    float *ys = y.data<float>() + shift, *dxs = dx.data<float>() + shift;
    if (bn) {
      cuda::batchnorm_act_forward_train<float>(ys, mean.data<float>(), rstd.data<float>(), rm.data<float>(),
                                               rv.data<float>(), xs, g.data<float>(), b.data<float>(), N, C, HW,
                                               1e-5f, 0.1f, act);
      cuda::batchnorm_act_backward<float>(dxs, dg.data<float>(), db.data<float>(), us, mean.data<float>(),
                                          rstd.data<float>(), ys, xs, g.data<float>(), b.data<float>(), N, C, HW, act);
    } else {
      cuda::groupnorm_act_forward<float>(ys, mean.data<float>(), rstd.data<float>(), xs, g.data<float>(),
                                         b.data<float>(), N, C, HW, G, 1e-5f, act);
      cuda::groupnorm_act_backward<float>(dxs, dg.data<float>(), db.data<float>(), us, mean.data<float>(),
                                          rstd.data<float>(), ys, xs, g.data<float>(), b.data<float>(), N, C, HW, G,
                                          act);
    }
    std::vector<double> out = y.to_vector(), d = dx.to_vector();
    out.erase(out.begin() + (shift ? 0 : n));  // the n values written
    d.erase(d.begin() + (shift ? 0 : n));
    out.insert(out.end(), d.begin(), d.end());
    for (const Tensor* t : {&dg, &db}) {
      const auto v = t->to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  for (bool bn : {true, false}) {
    INFO((bn ? "batchnorm" : "groupnorm"));
    const std::string op = bn ? "batchnorm" : "groupnorm";
    int checked = 0;
    cuda::for_each_version(op, [&](int v) {
      if (v < 5) return;
      INFO("version " << v);
      const std::vector<double> aligned = run(0, bn), shifted = run(1, bn);
      REQUIRE(aligned.size() == std::size_t(2 * n + 2 * C));
      CHECK(same_bits(aligned, shifted));
      ++checked;
    });
    CHECK(checked == cuda::kernel_version_count(op) - 4);  // versions 5 and up
  }
}
#endif
TEST_CASE("cuda relu, max-pool, global average pool, dropout vs cpu", "[cuda][pointwise]") {
  for (const auto& c : op_group("pointwise")) check_case(c);
}
TEST_CASE("cuda loss, penalty, optimizer and data ops vs cpu", "[cuda][train]") {
  for (const auto& c : op_group("train")) check_case(c);
}
TEST_CASE("cuda through the dispatcher: one training step of the model matches the cpu", "[cuda][model]") {
  for (const auto& c : model_cases()) check_case(c);
  // The caching allocator serves a repeated step from its free lists: no new cudaMalloc.
  const auto before = cuda_memory_stats().mallocs;
  model_cases()[0].run(Device::cuda);
  CHECK(cuda_memory_stats().mallocs == before);
}

namespace {
// Two training steps of the model on two batches of 3 picked through the step counter, op by op or
// as one captured step replayed twice; everything the steps change, in a fixed order.
std::vector<double> two_steps(Norm norm, bool graph, int replays = 2) {
  const Device d = Device::cuda;
  const int M = 7;
  std::vector<double> lab(M);
  for (int i = 0; i < M; ++i) lab[static_cast<std::size_t>(i)] = (i * 3) % 10;
  const Tensor data = randn({M, 1, 28, 28}, 41, d), labels = ints(lab, d), order = ints({4, 0, 6, 2, 5, 1, 3}, d);
  auto net = test_model(norm, d);
  Sgd opt(net->parameters(), with_l1());
  const Tensor lr = Tensor::from({2}, {0.05, 0.02}).to_device(d);
  Tensor counter = ops::make_step(0, 0, d), acc = Tensor::zeros({2}, DType::f64, d);
  Tensor x_b = Tensor::empty({3, 1, 28, 28}, DType::f32, d), y_b = Tensor::empty({3}, DType::i32, d);
  Tape tape;
  auto step = [&] {
    ops::gather_rows(x_b, y_b, data, labels, order, counter, 3);
    Context ctx{&tape, true, 123, counter};
    Var x = make_var(x_b);
    x->requires_grad = false;
    LossResult out = nll_loss(net->forward(x, ctx), y_b, ctx);
    opt.zero_grad();
    tape.backward();
    opt.step(lr, counter);
    accumulate_metrics(acc, out, opt.penalty(), y_b);
    ops::step_advance(counter);
  };
  CudaGraph g;
  if (graph) {
    g.capture(step);
    if (g.nodes() == 0) throw Error("two_steps: the captured step is an empty graph");
    for (int r = 0; r < replays; ++r) g.replay();
  } else {
    for (int r = 0; r < replays; ++r) step();
  }
  std::vector<double> all = acc.to_vector();
  for (double c : counter.to_vector()) all.push_back(c);
  for (auto& p : net->parameters())
    for (double x : p->value.to_vector()) all.push_back(x);
  for (auto& [name, t] : net->buffers())
    for (double x : t->to_vector()) all.push_back(x);
  return all;
}

// BN's two steps replayed as a graph on one host thread while GN's run op by op on another.
std::pair<std::vector<double>, std::vector<double>> two_threads() {
  std::vector<double> a, b;
  std::exception_ptr ea, eb;
  std::thread ta([&] {
    try {
      a = two_steps(Norm::bn, true);
    } catch (...) {
      ea = std::current_exception();
    }
  });
  std::thread tb([&] {
    try {
      b = two_steps(Norm::gn, false);
    } catch (...) {
      eb = std::current_exception();
    }
  });
  ta.join();
  tb.join();
  if (ea) std::rethrow_exception(ea);
  if (eb) std::rethrow_exception(eb);
  return {a, b};
}
}  // namespace

TEST_CASE("cuda graphs: a training step captured and replayed gives the bits of the steps launched one by one",
          "[cuda][graph]") {
  for (const NormSpec& spec : norm_table()) {
    INFO(spec.name);
    const auto eager = two_steps(spec.norm, false), replayed = two_steps(spec.norm, true);
    CHECK(same_bits(eager, replayed));
    CHECK(!same_bits(replayed, two_steps(spec.norm, true, 1)));  // the second replay did a second step
    CHECK(replayed[2] == 2);                                      // the counter: s = 2, b = 2
  }
}

// Weight gradients on the side stream (--cuda-branches, core/device.h): the bits of one stream, op
// by op and captured. On the emulator the captured step is replayed in every order a GPU may run its
// branches in (the origin's nodes first: each weight gradient as late as the join allows; the branch
// first: each as early as its fork allows), so a missing fork or join, or a tensor the main stream
// overwrites while a branch still reads it, gives other bits.
TEST_CASE("cuda branches: weight gradients on a second stream give the bits of one stream, op by op and replayed",
          "[cuda][graph]") {
  struct Branches {
    explicit Branches(bool on) { set_cuda_branches(on); }
    ~Branches() { set_cuda_branches(false); }
  };
  for (const NormSpec& spec : norm_table()) {
    INFO(spec.name);
    const auto plain = two_steps(spec.norm, false);
    Branches on(true);
    CHECK(same_bits(plain, two_steps(spec.norm, false)));
#ifdef NORMLAB_CUDA_EMULATE
    for (auto o : {emu::GraphOrder::capture, emu::GraphOrder::origin_first, emu::GraphOrder::branches_first}) {
      INFO("replay order " << int(o));
      emu::set_graph_order(o);
      const int64_t before = emu::branch_nodes_captured();
      const auto replayed = two_steps(spec.norm, true);
      emu::set_graph_order(emu::GraphOrder::capture);
      CHECK(same_bits(plain, replayed));
      // the model's 8 convolutions: at least a partial-sum and a finishing kernel each on the branch
      CHECK(emu::branch_nodes_captured() - before >= 16);
    }
#else
    CHECK(same_bits(plain, two_steps(spec.norm, true)));
#endif
  }
  // Two host threads, each with its own main and side stream: one replays its graph, one launches op by op.
  const auto bn = two_steps(Norm::bn, true), gn = two_steps(Norm::gn, true);
  Branches on(true);
  const auto [a, b] = two_threads();
  CHECK(same_bits(a, bn));
  CHECK(same_bits(b, gn));
}

TEST_CASE("cuda graphs: the memory a graph replays is kept from other tensors until it is reset", "[cuda][graph]") {
  const Tensor keep = Tensor::zeros({1000}, DType::f32, Device::cuda);
  CudaGraph g;
  void* inside = nullptr;
  g.capture([&] {
    Tensor t = Tensor::zeros({1000}, DType::f32, Device::cuda);  // dies inside the capture
    inside = t.raw();
    ops::add_inplace(t, keep);
  });
  REQUIRE(g.ready());
  const Tensor after = Tensor::empty({1000}, DType::f32, Device::cuda);
  CHECK(after.raw() != inside);  // the graph still writes there
  g.replay();
  g.reset();
  const Tensor again = Tensor::empty({1000}, DType::f32, Device::cuda);
  CHECK(again.raw() == inside);  // given back to the free list
}

// Its own case, tagged [refusal]: it makes CUDA report an error on purpose, which compute-sanitizer's
// memcheck counts as one (scripts/gpu-run.sh leaves [refusal] out of the sanitizer runs).
TEST_CASE("cuda graphs: a copy from the host cannot be captured; the capture fails with the CUDA error and the "
          "device works on", "[cuda][graph][refusal]") {
  CudaGraph bad;
  CHECK_THROWS_WITH(bad.capture([] { (void)Tensor::from({3}, {1, 2, 3}).to_device(Device::cuda); }),
                    Catch::Contains("CUDA error"));
  CHECK(!bad.ready());
  CHECK(Tensor::full({2}, 4.0).to_device(Device::cuda).to_vector() == std::vector<double>{4, 4});
}

TEST_CASE("cuda graphs: two host threads train side by side, each on its own stream, with the bits of one after "
          "the other", "[cuda][graph]") {
  const auto bn = two_steps(Norm::bn, true), gn = two_steps(Norm::gn, true);
  const auto [a, b] = two_threads();  // one thread replays a graph while the other launches op by op
  CHECK(same_bits(a, bn));
  CHECK(same_bits(b, gn));
}
