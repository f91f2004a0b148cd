// CUDA kernels against the CPU kernels (the oracle), on random inputs and awkward shapes: batch 1,
// odd spatial sizes, channel counts that are not multiples of 32, G = 1 and G = C. Each comparison
// prints the max abs and max rel error and requires max |gpu - cpu| <= atol + rtol * |cpu|
// elementwise, with the tolerance stated per op. With no usable GPU this program prints SKIPPED and
// exits 77 (CTest's skip code): it never passes without running.
#define CATCH_CONFIG_RUNNER
#include <cuda_runtime_api.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/cuda_check.h"
#include "core/rng.h"
#include "kernels/add.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/dispatch.h"
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
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "layers/optim.h"
#include "tests/gpu_test.h"

using namespace normlab;
using test::compare;

namespace {

template <typename T>
struct Dev {  // a device copy of a host vector
  T* p = nullptr;
  std::size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), sizeof(T) * std::max<std::size_t>(n, 1)));
    if (n) CUDA_CHECK(cudaMemcpy(p, h.data(), sizeof(T) * n, cudaMemcpyHostToDevice));
  }
  explicit Dev(std::size_t count, T fill = T(0)) : Dev(std::vector<T>(count, fill)) {}
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  std::vector<T> host() const {
    std::vector<T> h(n);
    CUDA_CHECK(cudaDeviceSynchronize());
    if (n) CUDA_CHECK(cudaMemcpy(h.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost));
    return h;
  }
};

std::vector<float> randv(std::size_t n, uint64_t seed, float scale = 1.f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * static_cast<float>(r.normal());
  return v;
}

}  // namespace

int main(int argc, char** argv) { return test::run_on_gpu(argc, argv, "the cuda tests"); }

TEST_CASE("cuda conv2d vs cpu: forward, backward-data, backward-weight", "[cuda][conv]") {
  struct Case { int N, C, H, W, K, R, pad; };
  for (Case c : {Case{1, 1, 28, 28, 8, 3, 0}, Case{3, 13, 7, 9, 17, 3, 1}, Case{2, 16, 24, 24, 8, 1, 0},
                 Case{128, 16, 8, 8, 16, 3, 0}}) {
    Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.pad};
    const std::size_t nx = std::size_t(c.N) * c.C * c.H * c.W, nw = std::size_t(c.K) * c.C * c.R * c.R,
                      ny = std::size_t(c.N) * c.K * s.Ho() * s.Wo();
    auto x = randv(nx, 1), w = randv(nw, 2, 0.3f), b = randv(c.K, 3), dy = randv(ny, 4);
    std::vector<float> y(ny), dx(nx), dw(nw, 0.5f), db(c.K, 0.5f);
    cpu::conv2d_forward(y.data(), x.data(), w.data(), b.data(), s);
    cpu::conv2d_backward_data(dx.data(), dy.data(), w.data(), s);
    cpu::conv2d_backward_weight(dw.data(), db.data(), dy.data(), x.data(), s);
    Dev<float> gx(x), gw(w), gb(b), gdy(dy), gy(ny), gdx(nx, NAN), gdw(nw, 0.5f), gdb(c.K, 0.5f);
    cuda::conv2d_forward(gy.p, gx.p, gw.p, gb.p, s);
    cuda::conv2d_backward_data(gdx.p, gdy.p, gw.p, s);
    cuda::conv2d_backward_weight(gdw.p, gdb.p, gdy.p, gx.p, s);
    compare("conv2d_forward", gy.host(), y, 1e-4, 1e-4);
    compare("conv2d_backward_data", gdx.host(), dx, 1e-4, 1e-4);
    compare("conv2d_backward_weight dw (accumulated)", gdw.host(), dw, 1e-3, 1e-4);
    compare("conv2d_backward_weight db (accumulated)", gdb.host(), db, 1e-3, 1e-4);
  }
}

TEST_CASE("cuda batch norm vs cpu: train, eval, backward, running statistics", "[cuda][bn]") {
  for (auto [N, C, HW] : {std::tuple{1, 3, 5}, std::tuple{128, 16, 576}, std::tuple{7, 33, 9}}) {
    const std::size_t n = std::size_t(N) * C * HW;
    auto x = randv(n, 5, 2.f), g = randv(C, 6), b = randv(C, 7), dy = randv(n, 8);
    std::vector<float> y(n), mean(C), rstd(C), rm(C, 0.f), rv(C, 1.f), dx(n), dg(C, 0.5f), dbt(C, 0.5f), ye(n);
    cpu::batchnorm_forward_train(y.data(), mean.data(), rstd.data(), rm.data(), rv.data(), x.data(), g.data(),
                                 b.data(), N, C, HW, 1e-5f, 0.1f);
    cpu::batchnorm_backward(dx.data(), dg.data(), dbt.data(), dy.data(), mean.data(), rstd.data(), x.data(), g.data(),
                            N, C, HW);
    cpu::batchnorm_forward_eval(ye.data(), x.data(), g.data(), b.data(), rm.data(), rv.data(), N, C, HW, 1e-5f);
    Dev<float> gx(x), gg(g), gbt(b), gdy(dy), gy(n), gm(C), gr(C), grm(C, 0.f), grv(C, 1.f), gdx(n, NAN),
        gdg(C, 0.5f), gdb(C, 0.5f), gye(n);
    cuda::batchnorm_forward_train(gy.p, gm.p, gr.p, grm.p, grv.p, gx.p, gg.p, gbt.p, N, C, HW, 1e-5f, 0.1f);
    cuda::batchnorm_backward(gdx.p, gdg.p, gdb.p, gdy.p, gm.p, gr.p, gx.p, gg.p, N, C, HW);
    cuda::batchnorm_forward_eval(gye.p, gx.p, gg.p, gbt.p, grm.p, grv.p, N, C, HW, 1e-5f);
    compare("batchnorm_forward_train y", gy.host(), y, 1e-4, 1e-4);
    compare("batchnorm running_var", grv.host(), rv, 1e-5, 1e-4);
    compare("batchnorm_forward_eval y", gye.host(), ye, 1e-4, 1e-4);
    compare("batchnorm_backward dx", gdx.host(), dx, 1e-4, 1e-3);
    compare("batchnorm_backward dgamma (accumulated)", gdg.host(), dg, 1e-3, 1e-4);
  }
}

TEST_CASE("cuda group norm vs cpu, G = 1, 2 and C", "[cuda][gn]") {
  const int N = 3, C = 18, HW = 35;
  for (int G : {1, 2, 18}) {
    const std::size_t n = std::size_t(N) * C * HW;
    auto x = randv(n, 9, 2.f), g = randv(C, 10), b = randv(C, 11), dy = randv(n, 12);
    std::vector<float> y(n), mean(N * G), rstd(N * G), dx(n), dg(C, 0.5f), dbt(C, 0.5f);
    cpu::groupnorm_forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data(), N, C, HW, G, 1e-5f);
    cpu::groupnorm_backward(dx.data(), dg.data(), dbt.data(), dy.data(), mean.data(), rstd.data(), x.data(), g.data(),
                            N, C, HW, G);
    Dev<float> gx(x), gg(g), gbt(b), gdy(dy), gy(n), gm(N * G), gr(N * G), gdx(n, NAN), gdg(C, 0.5f), gdb(C, 0.5f);
    cuda::groupnorm_forward(gy.p, gm.p, gr.p, gx.p, gg.p, gbt.p, N, C, HW, G, 1e-5f);
    cuda::groupnorm_backward(gdx.p, gdg.p, gdb.p, gdy.p, gm.p, gr.p, gx.p, gg.p, N, C, HW, G);
    compare("groupnorm_forward y", gy.host(), y, 1e-4, 1e-4);
    compare("groupnorm_backward dx", gdx.host(), dx, 1e-4, 1e-3);
    compare("groupnorm_backward dgamma", gdg.host(), dg, 1e-3, 1e-4);
    compare("groupnorm_backward dbeta", gdb.host(), dbt, 1e-3, 1e-4);
  }
}

TEST_CASE("cuda layer norm vs cpu, both affine modes", "[cuda][ln]") {
  const int N = 1, C = 5, HW = 49;
  for (bool pe : {false, true}) {
    const std::size_t n = std::size_t(N) * C * HW, np = pe ? std::size_t(C) * HW : std::size_t(C);
    auto x = randv(n, 13, 2.f), g = randv(np, 14), b = randv(np, 15), dy = randv(n, 16);
    std::vector<float> y(n), mean(N), rstd(N), dx(n), dg(np, 0.5f), dbt(np, 0.5f);
    cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data(), N, C, HW, pe, 1e-5f);
    cpu::layernorm_backward(dx.data(), dg.data(), dbt.data(), dy.data(), mean.data(), rstd.data(), x.data(), g.data(),
                            N, C, HW, pe);
    Dev<float> gx(x), gg(g), gbt(b), gdy(dy), gy(n), gm(N), gr(N), gdx(n, NAN), gdg(np, 0.5f), gdb(np, 0.5f);
    cuda::layernorm_forward(gy.p, gm.p, gr.p, gx.p, gg.p, gbt.p, N, C, HW, pe, 1e-5f);
    cuda::layernorm_backward(gdx.p, gdg.p, gdb.p, gdy.p, gm.p, gr.p, gx.p, gg.p, N, C, HW, pe);
    compare("layernorm_forward y", gy.host(), y, 1e-4, 1e-4);
    compare("layernorm_backward dx", gdx.host(), dx, 1e-4, 1e-3);
    compare("layernorm_backward dgamma", gdg.host(), dg, 1e-3, 1e-4);
  }
}

TEST_CASE("cuda element-wise ops vs cpu: relu, maxpool, gap, dropout, rotate, sgd, penalty", "[cuda][pointwise]") {
  const int P = 37, H = 7, W = 9;  // odd sizes: maxpool drops the last row and column
  const std::size_t n = std::size_t(P) * H * W, no = std::size_t(P) * (H / 2) * (W / 2);
  auto x = randv(n, 17), dy = randv(n, 18), dyo = randv(no, 19);
  std::vector<float> r(n), dr(n), mp(no), dmp(n), ga(P), dga(n), dr2(n);
  std::vector<int32_t> am(no);
  cpu::relu_forward(r.data(), x.data(), int64_t(n));
  cpu::relu_backward(dr.data(), dy.data(), r.data(), int64_t(n));
  cpu::maxpool2x2_forward(mp.data(), am.data(), x.data(), P, H, W);
  cpu::maxpool2x2_backward(dmp.data(), dyo.data(), am.data(), P, H, W);
  cpu::gap_forward(ga.data(), x.data(), P, H * W);
  cpu::gap_backward(dga.data(), dy.data(), P, H * W);
  cpu::dropout_forward(dr2.data(), x.data(), int64_t(n), 0.3f, 99);
  Dev<float> gx(x), gdy(dy), gdyo(dyo), gr(n), gdr(n), gmp(no), gdmp(n, NAN), gga(P), gdga(n), gdr2(n);
  Dev<int32_t> gam(no);
  cuda::relu_forward(gr.p, gx.p, int64_t(n));
  cuda::relu_backward(gdr.p, gdy.p, gr.p, int64_t(n));
  cuda::maxpool2x2_forward(gmp.p, gam.p, gx.p, P, H, W);
  cuda::maxpool2x2_backward(gdmp.p, gdyo.p, gam.p, P, H, W);
  cuda::gap_forward(gga.p, gx.p, P, H * W);
  cuda::gap_backward(gdga.p, gdy.p, P, H * W);
  cuda::dropout_forward(gdr2.p, gx.p, int64_t(n), 0.3f, 99);
  compare("relu_forward", gr.host(), r, 0, 0);
  compare("relu_backward", gdr.host(), dr, 0, 0);
  compare("maxpool2x2_forward", gmp.host(), mp, 0, 0);
  CHECK(gam.host() == am);
  compare("maxpool2x2_backward", gdmp.host(), dmp, 0, 0);
  compare("gap_forward", gga.host(), ga, 1e-5, 1e-5);
  compare("gap_backward", gdga.host(), dga, 1e-6, 1e-6);
  compare("dropout_forward (same mask as the cpu)", gdr2.host(), dr2, 0, 0);

  const int N = 5;
  auto img = randv(std::size_t(N) * 28 * 28, 20), ang = randv(N, 21, 0.12f);
  std::vector<float> rot(img.size());
  cpu::rotate_forward(rot.data(), img.data(), ang.data(), N, 28, 28, -0.42f);
  Dev<float> gimg(img), gang(ang), grot(img.size());
  cuda::rotate_forward(grot.p, gimg.p, gang.p, N, 28, 28, -0.42f);
  compare("rotate_forward", grot.host(), rot, 1e-5, 1e-5);

  auto w = randv(1000, 22), v = randv(1000, 23), dw = randv(1000, 24);
  std::vector<float> pw(dw);
  cpu::penalty_backward(pw.data(), w.data(), 1000, 1e-3f, 5e-4f);
  float pv = 0.25f;
  cpu::penalty_forward(&pv, w.data(), 1000, 1e-3f, 5e-4f);
  Dev<float> gw(w), gv(v), gdw(dw), gpv(1, 0.25f);
  cuda::penalty_backward(gdw.p, gw.p, 1000, 1e-3f, 5e-4f);
  cuda::penalty_forward(gpv.p, gw.p, 1000, 1e-3f, 5e-4f);
  compare("penalty_backward", gdw.host(), pw, 1e-7, 1e-6);
  compare("penalty_forward (accumulated)", gpv.host(), {pv}, 1e-5, 1e-5);
  cpu::sgd_step(w.data(), v.data(), pw.data(), 1000, 0.05f, 0.9f, true);
  cuda::sgd_step(gw.p, gv.p, gdw.p, 1000, 0.05f, 0.9f, true);
  compare("sgd_step w", gw.host(), w, 1e-6, 1e-6);
  compare("sgd_step velocity", gv.host(), v, 1e-6, 1e-6);
}

TEST_CASE("cuda log-softmax + NLL vs cpu", "[cuda][loss]") {
  for (int N : {1, 129}) {
    const int K = 10;
    auto z = randv(std::size_t(N) * K, 25, 5.f);
    std::vector<int32_t> lab(N);
    for (int i = 0; i < N; ++i) lab[i] = (i * 7) % K;
    std::vector<float> lp(z.size()), dz(z.size());
    float loss = 0;
    cpu::log_softmax_nll_forward(lp.data(), &loss, z.data(), lab.data(), N, K);
    cpu::log_softmax_nll_backward(dz.data(), lp.data(), lab.data(), 1.f, N, K);
    Dev<float> gz(z), glp(z.size()), gdz(z.size(), NAN), gloss(1);
    Dev<int32_t> glab(lab);
    cuda::log_softmax_nll_forward(glp.p, gloss.p, gz.p, glab.p, N, K);
    cuda::log_softmax_nll_backward(gdz.p, glp.p, glab.p, 1.f, N, K);
    compare("log_softmax_nll_forward logp", glp.host(), lp, 1e-5, 1e-5);
    compare("log_softmax_nll_forward loss", gloss.host(), {loss}, 1e-5, 1e-5);
    compare("log_softmax_nll_backward", gdz.host(), dz, 1e-6, 1e-4);
  }
}

TEST_CASE("cuda add, gather and metrics vs cpu", "[cuda][data]") {
  const std::size_t n = 1001;
  auto a = randv(n, 26), b = randv(n, 27);
  std::vector<float> s(a);
  cpu::add_inplace(s.data(), b.data(), int64_t(n));
  Dev<float> ga(a), gb(b);
  cuda::add_inplace(ga.p, gb.p, int64_t(n));
  compare("add_inplace (accumulated)", ga.host(), s, 0, 0);

  const int M = 50, row = 784, B = 7;
  auto x = randv(std::size_t(M) * row, 28);
  std::vector<int32_t> lab(M), idx{49, 0, 17, 17, 3, 48, 1}, yl(B), gyl_h;
  for (int i = 0; i < M; ++i) lab[i] = i % 10;
  std::vector<float> y(std::size_t(B) * row);
  cpu::gather_rows(y.data(), yl.data(), x.data(), lab.data(), idx.data(), B, row);
  Dev<float> gx(x), gy(y.size(), NAN);
  Dev<int32_t> glab(lab), gidx(idx), gyl(B, -1);
  cuda::gather_rows(gy.p, gyl.p, gx.p, glab.p, gidx.p, B, row);
  compare("gather_rows", gy.host(), y, 0, 0);
  CHECK(gyl.host() == yl);

  for (int N : {1, 130}) {  // ties: a row of equal values must pick class 0, as std::max_element does
    const int K = 10;
    auto lp = randv(std::size_t(N) * K, 29);
    for (int k = 0; k < K; ++k) lp[k] = -2.3f;
    std::vector<int32_t> l(N);
    for (int i = 0; i < N; ++i) l[i] = (i * 3) % K;
    std::vector<float> loss{0.37f}, pen{1e-3f, 2e-3f, 5e-4f};
    std::vector<double> acc{1.5, 2.0};
    cpu::metrics_accumulate(acc.data(), lp.data(), loss.data(), pen.data(), 3, l.data(), N, K);
    Dev<float> glp(lp), gloss(loss), gpen(pen);
    Dev<int32_t> gl(l);
    Dev<double> gacc(std::vector<double>{1.5, 2.0});
    cuda::metrics_accumulate(gacc.p, glp.p, gloss.p, gpen.p, 3, gl.p, N, K);
    const auto h = gacc.host();
    std::printf("  metrics_accumulate N=%d: loss sum %.9g vs %.9g, correct %.0f vs %.0f\n", N, h[0], acc[0], h[1], acc[1]);
    CHECK(h[0] == acc[0]);
    CHECK(h[1] == acc[1]);
  }
}

namespace {
// One training step of the full model on a random batch: loss, then every parameter's gradient.
struct StepResult {
  double loss;
  std::vector<std::vector<float>> grads, params_after;
};
StepResult model_step(Norm norm, Device dev, const Tensor& images, const Tensor& labels) {
  Rng rng(7);
  NetConfig nc;
  nc.norm = norm;
  auto net = build_mnist_net(nc, rng);
  move_to(*net, dev);
  SgdConfig oc;
  oc.l1 = 1e-4;
  Sgd opt(net->parameters(), oc);
  Tape tape;
  Context ctx{&tape, true, 123};
  Var x = make_var(images.to_device(dev));
  x->requires_grad = false;
  LossResult lr = nll_loss(net->forward(x, ctx), labels.to_device(dev), ctx);
  opt.zero_grad();
  tape.backward();
  StepResult r{lr.value(), {}, {}};
  for (auto& p : net->parameters()) {
    const auto g = p->grad.to_vector();
    r.grads.emplace_back(g.begin(), g.end());
  }
  opt.step(0.05);
  for (auto& p : net->parameters()) {
    const auto v = p->value.to_vector();
    r.params_after.emplace_back(v.begin(), v.end());
  }
  return r;
}
}  // namespace

TEST_CASE("cuda through the dispatcher: one training step of the model matches the cpu", "[cuda][model]") {
  const int N = 3;  // odd batch
  Tensor images = Tensor::empty({N, 1, 28, 28}), labels = Tensor::empty({N}, DType::i32);
  Rng r(11);
  for (int64_t i = 0; i < images.numel(); ++i) images.set(i, r.normal());
  for (int i = 0; i < N; ++i) labels.set(i, (i * 4) % 10);
  for (Norm norm : {Norm::bn, Norm::gn, Norm::ln}) {
    const auto c = model_step(norm, Device::cpu, images, labels);
    const auto before = cuda_memory_stats().mallocs;
    const auto g = model_step(norm, Device::cuda, images, labels);
    const auto mallocs_first = cuda_memory_stats().mallocs - before;
    const auto g2 = model_step(norm, Device::cuda, images, labels);
    const auto mallocs_second = cuda_memory_stats().mallocs - before - mallocs_first;
    std::printf("  model %s: loss cpu %.7f gpu %.7f; cudaMalloc calls: first step %lld, second step %lld\n",
                norm_name(norm).c_str(), c.loss, g.loss, static_cast<long long>(mallocs_first),
                static_cast<long long>(mallocs_second));
    CHECK(std::abs(c.loss - g.loss) <= 1e-4 * std::max(1.0, std::abs(c.loss)));
    CHECK(mallocs_second == 0);  // the caching allocator serves the repeat from its free lists
    REQUIRE(c.grads.size() == g.grads.size());
    for (std::size_t i = 0; i < c.grads.size(); ++i) {
      const std::string what = norm_name(norm) + " parameter " + std::to_string(i);
      compare((what + " grad").c_str(), g.grads[i], c.grads[i], 1e-4, 1e-3);
      compare((what + " after SGD").c_str(), g.params_after[i], c.params_after[i], 1e-5, 1e-4);
      CHECK(g2.grads[i] == g.grads[i]);  // same inputs, same GPU: the same bits
    }
  }
}
