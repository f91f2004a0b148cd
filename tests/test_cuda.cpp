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
// The tests of one version against another (the emulator's bits, the chunked and capped versions,
// misaligned pointers) are in tests/test_cuda_versions.cpp, the same program.
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
#include "tests/cuda_parity.h"
#include "tests/gpu_test.h"
#include "tests/op_cases.h"

using namespace normlab;
using namespace normlab::parity;

namespace {

using test::ints;
using test::randn;
using test::str;

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
  CHECK_THROWS_WITH(cuda::set_kernel_version("conv2d", 9), "CUDA op conv2d has versions 1 to 5, not 9");
}
TEST_CASE("cuda batch, group and layer norm vs cpu: forward, statistics, backward", "[cuda][norm]") {
  check_every_version("batchnorm", "norm", "batchnorm");
  check_every_version("groupnorm", "norm", "groupnorm");
  check_every_version("layernorm", "norm", "layernorm");
  for (const auto& c : op_group("norm"))  // any other norm case: the selected versions
    if (c.name.rfind("batchnorm", 0) != 0 && c.name.rfind("groupnorm", 0) != 0 && c.name.rfind("layernorm", 0) != 0)
      check_case(c);
}
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
