#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
// Tensor checks, the tape, checkpoints, determinism and the model's size.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/device.h"
#include "core/file.h"
#include "kernels/add.h"
#include "kernels/conv2d.h"
#include "kernels/groupnorm.h"
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "kernels/penalty.h"
#include "kernels/sgd.h"
#include "layers/optim.h"

using namespace normlab;
namespace fs = std::filesystem;

TEST_CASE("shape, dtype and device errors name the op and the shapes", "[core]") {
  Tensor x = Tensor::zeros({2, 3, 4, 4}), w = Tensor::zeros({5, 2, 3, 3}), y = Tensor::zeros({2, 5, 2, 2});
  REQUIRE_THROWS_WITH(ops::conv2d_forward(y, x, w, Tensor(), 0),
                      Catch::Contains("conv2d_forward") && Catch::Contains("[5, 2, 3, 3]") && Catch::Contains("[2, 3, 4, 4]"));
  Tensor xd = Tensor::zeros({2, 3, 4, 4}, DType::f64);
  REQUIRE_THROWS_WITH(ops::add_inplace(x, xd), Catch::Contains("f32") && Catch::Contains("f64"));
  if (!cuda_available()) {  // no GPU (or no CUDA in this build): a CUDA tensor cannot be made, and says why
    REQUIRE_THROWS_WITH(Tensor::zeros({2}, DType::f32, Device::cuda), Catch::Contains("no usable CUDA device"));
  } else {
    Tensor c = Tensor::zeros({2}, DType::f32, Device::cuda);
    REQUIRE_THROWS_WITH(ops::add_inplace(c, Tensor::zeros({2})), Catch::Contains("different devices"));
  }
  Tensor m = Tensor::zeros({1, 3}), r = Tensor::zeros({1, 3}), g = Tensor::zeros({4}), b = Tensor::zeros({4});
  Tensor x4 = Tensor::zeros({1, 4, 2, 2}), y4 = Tensor::zeros({1, 4, 2, 2});
  REQUIRE_THROWS_WITH(ops::groupnorm_forward(y4, m, r, x4, g, b, 3, 1e-5), Catch::Contains("3 groups do not divide 4"));
  // A norm's activation (kernels/activation.h): dropout only after its ReLU, p in [0, 1); y's shape.
  Tensor m2 = Tensor::zeros({1, 2}), r2 = Tensor::zeros({1, 2});
  ops::Act drop_only;
  drop_only.p = 0.3;
  REQUIRE_THROWS_WITH(ops::groupnorm_act_forward(y4, m2, r2, x4, g, b, 2, 1e-5, drop_only),
                      Catch::Contains("groupnorm_act_forward") && Catch::Contains("needs the ReLU"));
  ops::Act all_dropped{true, 1.0, 0};
  REQUIRE_THROWS_WITH(ops::groupnorm_act_forward(y4, m2, r2, x4, g, b, 2, 1e-5, all_dropped),
                      Catch::Contains("p must be in [0, 1)"));
  Tensor dx4 = Tensor::zeros({1, 4, 2, 2}), dg = Tensor::zeros({4}), db = Tensor::zeros({4}), y3 = Tensor::zeros({1, 4, 3, 3});
  REQUIRE_THROWS_WITH(ops::groupnorm_act_backward(dx4, dg, db, y4, m2, r2, y3, x4, g, b, 2, ops::Act{true, 0.0, 0}),
                      Catch::Contains("groupnorm_act_backward") && Catch::Contains("[1, 4, 3, 3]"));
}

TEST_CASE("a variable used twice receives the sum of both gradients", "[core][autograd]") {
  Var v = make_var(Tensor::full({3}, 1.0, DType::f64));
  add_grad(*v, [](Tensor& g) { g.fill(2.0); });
  add_grad(*v, [](Tensor& g) { g.fill(0.5); });
  for (int i = 0; i < 3; ++i) CHECK(v->grad.get(i) == 2.5);
}

TEST_CASE("checkpoint round trip, temp file + rename, and corrupt files rejected", "[core][checkpoint]") {
  const fs::path dir = fs::temp_directory_path() / "normlab_ckpt_test";
  fs::create_directories(dir);
  const std::string path = (dir / "m.ckpt").string();
  Tensor a = Tensor::from({2, 2}, {1, 2, 3, 4}), b = Tensor::from({3}, {5, 6, 7}, DType::f64);
  save_checkpoint(path, {{"a", &a}, {"b", &b}});
  CHECK_FALSE(fs::exists(path + ".tmp"));
  Tensor a2 = Tensor::zeros({2, 2}), b2 = Tensor::zeros({3}, DType::f64);
  load_checkpoint(path, {{"a", &a2}, {"b", &b2}});
  CHECK(a2.to_vector() == a.to_vector());
  CHECK(b2.to_vector() == b.to_vector());
  Tensor wrong = Tensor::zeros({4});
  REQUIRE_THROWS_WITH(load_checkpoint(path, {{"a", &wrong}, {"b", &b2}}), Catch::Contains("expects"));
  fs::resize_file(path, fs::file_size(path) - 4);
  REQUIRE_THROWS_WITH(load_checkpoint(path, {{"a", &a2}, {"b", &b2}}), Catch::Contains("truncated"));
  { std::ofstream(path) << "garbage file"; }
  REQUIRE_THROWS_WITH(load_checkpoint(path, {{"a", &a2}, {"b", &b2}}), Catch::Contains("bad magic"));
  fs::remove_all(dir);
}

TEST_CASE("the MNIST net has under 8,000 parameters for every norm", "[model]") {
  for (const NormSpec& spec : norm_table()) {
    const Norm n = spec.norm;
    Rng rng(1);
    NetConfig nc;
    nc.norm = n;
    auto net = build_mnist_net(nc, rng);
    CHECK(net->num_parameters() == 7928);
    const std::string s = net->summary({1, 1, 28, 28}, DType::f32);
    CHECK_THAT(s, Catch::Contains("total parameters: 7928") && Catch::Contains("[-1, 10]"));
  }
  Rng rng(1);
  NetConfig nc;
  nc.norm = Norm::ln;
  nc.norm_cfg.ln_per_element = true;
  CHECK(build_mnist_net(nc, rng)->num_parameters() > 8000);  // why per-channel is the default
  nc.norm = Norm::gn;
  nc.norm_cfg.groups = 3;
  CHECK_THROWS_AS(build_mnist_net(nc, rng), InputError);
}

namespace {
std::vector<double> train_steps(uint64_t seed, Norm norm) {
  Rng rng(seed);
  NetConfig nc;
  nc.norm = norm;
  nc.dropout = 0.1;
  auto net = build_mnist_net(nc, rng);
  SgdConfig oc;
  oc.l1 = 1e-4;
  Sgd opt(net->parameters(), oc);
  Rng data(seed + 100);
  Tensor x = Tensor::empty({8, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, data.normal());
  Tensor labels = Tensor::from({8}, {0, 1, 2, 3, 4, 5, 6, 7}, DType::i32);
  Tape tape;
  std::vector<double> losses;
  for (int step = 0; step < 3; ++step) {
    Context ctx{&tape, true, seed * 7 + static_cast<uint64_t>(step), Tensor()};
    Var xv = make_var(x);
    xv->requires_grad = false;
    losses.push_back(nll_loss(net->forward(xv, ctx), labels, ctx).value());
    opt.zero_grad();
    tape.backward();
    opt.step(0.05);
  }
  for (auto& p : net->parameters())
    for (int64_t i = 0; i < p->value.numel(); ++i) losses.push_back(p->value.get(i));
  return losses;
}
}  // namespace

TEST_CASE("same seed, same thread count: bit-identical training steps", "[core][determinism]") {
  for (const NormSpec& spec : norm_table()) {
    const Norm n = spec.norm;
    const auto a = train_steps(5, n), b = train_steps(5, n), c = train_steps(6, n);
    CHECK(a == b);  // exact equality, not a tolerance
    CHECK(a != c);
    CHECK(a[2] < a[0]);  // and it learns: the loss falls over three steps on one batch
  }
}

// The flat buffer must give what the per-parameter ops give. Not asserted bit for bit: the fused loop
// and the two separate ones are different code, which a compiler may contract into FMAs differently
// (the sanitizer build does: a last-bit difference in 10 of 20 parameters). A wrong slot, a missed
// zeroing or a penalty on the wrong elements moves values by far more than the 1e-6 allowed here.
TEST_CASE("Sgd: one flat buffer, one step = the per-parameter penalty and step ops", "[core][optim]") {
  Rng rng(3);
  NetConfig nc;
  nc.norm = Norm::gn;
  auto net = build_mnist_net(nc, rng);
  std::vector<Var> params = net->parameters();
  // The reference: every parameter's own tensors, updated the way the optimizer did before the
  // flat buffer (penalty op on the convolution weights, then the step op per parameter).
  std::vector<Tensor> w_ref, v_ref;
  for (auto& p : params) w_ref.push_back(p->value.clone()), v_ref.push_back(Tensor::zeros_like(p->value));
  SgdConfig oc;
  oc.l1 = 1e-3;
  oc.weight_decay = 1e-2;
  Sgd opt(params, oc);
  Rng g(4);
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    for (std::size_t i = 0; i < params.size(); ++i) {
      Tensor& grad = params[i]->grad;
      for (int64_t k = 0; k < grad.numel(); ++k) CHECK(grad.get(k) == 0.0);  // zero_grad reached every slot
      for (int64_t k = 0; k < grad.numel(); ++k) grad.set(k, g.normal());
      Tensor ref_grad = grad.clone();
      if (params[i]->decay) ops::penalty_backward(ref_grad, w_ref[i], oc.l1, oc.weight_decay);
      ops::sgd_step(w_ref[i], v_ref[i], ref_grad, 0, 0, 0, 0.05, oc.momentum, oc.nesterov);
    }
    opt.step(0.05);
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << i << " " << params[i]->name);
    const auto w = params[i]->value.to_vector(), wr = w_ref[i].to_vector();
    const auto v = opt.velocity()[i].to_vector(), vr = v_ref[i].to_vector();
    REQUIRE(w.size() == wr.size());
    for (std::size_t k = 0; k < w.size(); ++k) {
      CHECK_THAT(w[k], Catch::Matchers::WithinAbs(wr[k], 1e-6));
      CHECK_THAT(v[k], Catch::Matchers::WithinAbs(vr[k], 1e-6));
    }
  }
  // penalty(): one term per convolution weight, in one launch over the flat buffer, the same bits
  // as the per-tensor op on each weight (the same summation code), nothing for the others
  const Tensor terms = opt.penalty();
  std::vector<double> ref_terms;
  for (auto& p : params)
    if (p->decay) {
      Tensor t = Tensor::zeros({1});
      ops::penalty_forward(t, 0, p->value, oc.l1, oc.weight_decay);
      ref_terms.push_back(t.get(0));
    }
  REQUIRE(ref_terms.size() >= 2);
  CHECK(terms.to_vector() == ref_terms);
  // the parameters are views of the optimizer's buffer: the net's own state sees the update
  const auto first = (*net->state_dict().front().second).to_vector(), first_ref = w_ref.front().to_vector();
  for (std::size_t k = 0; k < first.size(); ++k) CHECK_THAT(first[k], Catch::Matchers::WithinAbs(first_ref[k], 1e-6));
}

TEST_CASE("write_file_atomic: a failed write (disk full) leaves the old file and no temp file", "[core]") {
  const fs::path dir = fs::temp_directory_path() / ("normlab_full_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "results.json").string();
  write_file_atomic(path, "old contents\n");
  // A file-size limit makes write() fail with EFBIG, as a full disk fails it with ENOSPC.
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 4096;
  auto prev = std::signal(SIGXFSZ, SIG_IGN);
  setrlimit(RLIMIT_FSIZE, &small);
  std::string what;
  try {
    write_file_atomic(path, std::string(100000, 'x'));
  } catch (const IoError& e) {
    what = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
  INFO(what);
  CHECK(what.find("write failed") != std::string::npos);
  CHECK(what.find("is unchanged") != std::string::npos);
  std::ifstream is(path);
  std::string line;
  std::getline(is, line);
  CHECK(line == "old contents");
  CHECK(!fs::exists(path + ".tmp"));
  fs::remove_all(dir);
}
