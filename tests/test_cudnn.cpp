// cuDNN as a second reference for our CUDA convolution and batch-norm kernels (the first is the
// CPU path, tests/test_cuda.cpp): the model's layer shapes at batch 128 and awkward ones (batch 1,
// odd sizes, channel counts not a multiple of 32). Gradient buffers start from the same sentinel
// on both sides (0.5: accumulated outputs; NaN in ours for assigned ones). Each comparison prints
// the max abs/rel error against the stated tolerance. Without a usable GPU: SKIPPED (exit 77).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "apps/bench_kernels/cudnn_ref.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "tests/gpu_test.h"

using namespace normlab;

namespace {

Tensor randt(const Shape& s, uint64_t seed, double scale = 1.0) {
  Tensor t = Tensor::empty(s);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * r.normal());
  return t.to_device(Device::cuda);
}
Tensor filled(const Shape& s, double v) {
  Tensor t = Tensor::full(s, v);
  return t.to_device(Device::cuda);
}

void compare(const char* what, const Tensor& ours, const Tensor& cudnn, double atol, double rtol) {
  test::compare(what, ours.to_vector(), cudnn.to_vector(), atol, rtol);
}

}  // namespace

int main(int argc, char** argv) { return test::run_on_gpu(argc, argv, "the cuDNN reference test"); }

TEST_CASE("our conv2d vs cuDNN: forward, backward-data, backward-weight", "[cuda][cudnn][conv]") {
  // The model's convolutions at batch 128, then awkward shapes.
  const Conv2dShape cases[] = {{128, 1, 28, 28, 8, 3, 0},  {128, 8, 26, 26, 16, 3, 0},  {128, 16, 24, 24, 8, 1, 0},
                               {128, 8, 12, 12, 16, 3, 0}, {128, 16, 10, 10, 16, 3, 0}, {128, 16, 6, 6, 16, 3, 1},
                               {128, 16, 1, 1, 10, 1, 0},  {1, 3, 7, 9, 5, 3, 1},       {3, 33, 11, 5, 17, 3, 0}};
  for (const auto& s : cases) {
    char name[96];
    std::snprintf(name, sizeof name, "N%d C%d %dx%d K%d %dx%d pad %d", s.N, s.C, s.H, s.W, s.K, s.R, s.R, s.pad);
    INFO(name);
    std::printf("%s\n", name);
    const Shape xs{s.N, s.C, s.H, s.W}, ws{s.K, s.C, s.R, s.R}, ys{s.N, s.K, s.Ho(), s.Wo()};
    Tensor x = randt(xs, 1), w = randt(ws, 2, 0.3), b = randt({s.K}, 3), dy = randt(ys, 4);
    Tensor y = Tensor::empty(ys, DType::f32, Device::cuda), yr = Tensor::empty(ys, DType::f32, Device::cuda);
    Tensor dx = filled(xs, NAN), dxr = filled(xs, 0.5);
    Tensor dw = filled(ws, 0.5), dwr = filled(ws, 0.5), db = filled({s.K}, 0.5), dbr = filled({s.K}, 0.5);
    cuda::conv2d_forward(y.data<float>(), x.data<float>(), w.data<float>(), b.data<float>(), s);
    cuda::conv2d_backward_data(dx.data<float>(), dy.data<float>(), w.data<float>(), s);
    cuda::conv2d_backward_weight(dw.data<float>(), db.data<float>(), dy.data<float>(), x.data<float>(), s);
    ref::CudnnConv c(s, false);
    c.forward(yr.data<float>(), x.data<float>(), w.data<float>(), b.data<float>());
    c.backward_data(dxr.data<float>(), dy.data<float>(), w.data<float>());
    c.backward_weight(dwr.data<float>(), dbr.data<float>(), dy.data<float>(), x.data<float>());
    compare("conv2d_forward y", y, yr, 1e-4, 1e-4);
    compare("conv2d_backward_data dx", dx, dxr, 1e-4, 1e-4);
    // dw sums N*Ho*Wo products (up to 86,528 here) in a different order: a looser bound.
    compare("conv2d_backward_weight dw (accumulated)", dw, dwr, 2e-3, 1e-3);
    compare("conv2d_backward_weight db (accumulated)", db, dbr, 2e-3, 1e-3);
  }
}

TEST_CASE("our batch norm vs cuDNN: training, running statistics, eval, backward", "[cuda][cudnn][bn]") {
  struct Case {
    int N, C, H, W;
  };
  for (Case k :
       {Case{128, 8, 26, 26}, Case{128, 16, 24, 24}, Case{128, 16, 4, 4}, Case{1, 3, 5, 7}, Case{7, 33, 3, 3}}) {
    std::printf("N%d C%d %dx%d\n", k.N, k.C, k.H, k.W);
    const int N = k.N, C = k.C, HW = k.H * k.W;
    const Shape xs{N, C, k.H, k.W}, cs{C};
    const double eps = 1e-5, momentum = 0.1;
    Tensor x = randt(xs, 5, 2.0), g = randt(cs, 6), bt = randt(cs, 7), dy = randt(xs, 8);
    auto out = [&] { return Tensor::empty(xs, DType::f32, Device::cuda); };
    auto per_c = [&] { return Tensor::empty(cs, DType::f32, Device::cuda); };
    Tensor y = out(), yr = out(), ye = out(), yer = out(), m = per_c(), mr = per_c(), r = per_c(), rr = per_c();
    Tensor rm = filled(cs, 0.0), rmr = filled(cs, 0.0), rv = filled(cs, 1.0), rvr = filled(cs, 1.0);
    Tensor dx = filled(xs, NAN), dxr = filled(xs, 0.5);
    Tensor dg = filled(cs, 0.5), dgr = filled(cs, 0.5), db = filled(cs, 0.5), dbr = filled(cs, 0.5);
    auto f = [](Tensor& t) { return t.data<float>(); };
    auto cf = [](const Tensor& t) { return t.data<float>(); };
    cuda::batchnorm_forward_train(f(y), f(m), f(r), f(rm), f(rv), cf(x), cf(g), cf(bt), N, C, HW, float(eps),
                                  float(momentum));
    cuda::batchnorm_backward(f(dx), f(dg), f(db), cf(dy), cf(m), cf(r), cf(x), cf(g), N, C, HW);
    cuda::batchnorm_forward_eval(f(ye), cf(x), cf(g), cf(bt), cf(rm), cf(rv), N, C, HW, float(eps));
    ref::CudnnBatchNorm c(N, C, k.H, k.W);
    c.forward_train(f(yr), f(mr), f(rr), f(rmr), f(rvr), cf(x), cf(g), cf(bt), eps, momentum);
    c.backward(f(dxr), f(dgr), f(dbr), cf(dy), cf(mr), cf(rr), cf(x), cf(g), eps);
    c.forward_eval(f(yer), cf(x), cf(g), cf(bt), cf(rmr), cf(rvr), eps);
    compare("batchnorm_forward_train y", y, yr, 1e-4, 1e-4);
    compare("batchnorm saved mean", m, mr, 1e-5, 1e-4);
    compare("batchnorm saved rstd", r, rr, 1e-5, 1e-4);
    compare("batchnorm running_mean", rm, rmr, 1e-6, 1e-4);
    compare("batchnorm running_var (unbiased)", rv, rvr, 1e-5, 1e-4);
    compare("batchnorm_forward_eval y", ye, yer, 1e-4, 1e-4);
    compare("batchnorm_backward dx", dx, dxr, 1e-4, 1e-3);
    compare("batchnorm_backward dgamma (accumulated)", dg, dgr, 1e-3, 1e-4);
    compare("batchnorm_backward dbeta (accumulated)", db, dbr, 1e-3, 1e-4);
  }
}
