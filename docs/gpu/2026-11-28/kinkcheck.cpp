// Run 4's failing "+act" rows of bench_kernels, reproduced on the CPU emulator (docs/results-gpu.md,
// Run 4): the bench's BN (or GN) + ReLU + dropout case at 256x64x56x56, with its inputs, through the
// CUDA kernels on the emulator and through the CPU kernels; prints each dx value that differs by more
// than 1e-3 with the CPU's pre-activation z there. Kept as the record of that check, not built by
// CMake. From the repository root, after building build-emu (README: the emulator):
//   g++ -O2 -std=c++20 -march=native -fopenmp -DNORMLAB_CUDA_EMULATE -DNORMLAB_HAS_CUDA -I. \
//     -isystem /usr/include/eigen3 docs/gpu/2026-11-28/kinkcheck.cpp -o /tmp/kinkcheck \
//     build-emu/libnormlab.a build-emu/libnormlab_cuda.a build-emu/libnormlab_emu.a build-emu/libnormlab.a \
//     -lboost_context -lz -lpthread
//   NORMLAB_CUDA_VERSIONS=batchnorm=5 /tmp/kinkcheck bn  (25 s with a Release build-emu; 2026-11-28: 3 values of dx,
//   |z| < 2e-8, off by 0.495, 0.237, 0.109; 2.3e-6 at most elsewhere)
//   NORMLAB_CUDA_VERSIONS=groupnorm=5 /tmp/kinkcheck gn     (2026-11-28: none on the emulator)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/groupnorm.h"
using namespace normlab;
static Tensor rand_host(const Shape& s, uint64_t seed, double scale = 1.0) {
  Tensor t = Tensor::empty(s); Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * r.normal());
  return t;
}
static float* F(Tensor& t) { return t.data<float>(); }
static const float* C(const Tensor& t) { return t.data<float>(); }
int main(int argc, char** argv) {
  const bool gn = argc > 1 && std::string(argv[1]) == "gn";
  const int N = 256, Ch = 64, H = 56, W = 56, HW = H * W, G = 2;
  const Shape xs{N, Ch, H, W}, cs{Ch}, ss = gn ? Shape{N, G} : cs;
  Tensor xh = rand_host(xs, 13, 2.0), gh = rand_host(cs, 14), bh = rand_host(cs, 15, 0.5), dyh = rand_host(xs, 16);
  Tensor x = xh.to_device(Device::cuda), g = gh.to_device(Device::cuda), bt = bh.to_device(Device::cuda), dy = dyh.to_device(Device::cuda);
  auto de = [&](const Shape& s) { return Tensor::empty(s, DType::f32, Device::cuda); };
  Tensor y = de(xs), m = de(ss), r = de(ss), dx = de(xs), dg = Tensor::zeros(cs, DType::f32, Device::cuda), db = Tensor::zeros(cs, DType::f32, Device::cuda),
         rm = Tensor::zeros(cs, DType::f32, Device::cuda), rv = Tensor::full(cs, 1.0).to_device(Device::cuda);
  Tensor yh = Tensor::empty(xs), mh = Tensor::empty(ss), rh = Tensor::empty(ss), dxh = Tensor::empty(xs), dgh = Tensor::zeros(cs), dbh = Tensor::zeros(cs),
         rmh = Tensor::zeros(cs), rvh = Tensor::full(cs, 1.0), zh = Tensor::empty(xs), m2 = Tensor::empty(ss), r2 = Tensor::empty(ss),
         rm2 = Tensor::zeros(cs), rv2 = Tensor::full(cs, 1.0);
  const Activation<float> act{true, 0.05f, DropoutSeed{77, 0, nullptr}};
  if (!gn) {
    cpu::batchnorm_forward_train(F(zh), F(m2), F(r2), F(rm2), F(rv2), C(xh), C(gh), C(bh), N, Ch, HW, 1e-5f, 0.1f);
    cpu::batchnorm_act_forward_train(F(yh), F(mh), F(rh), F(rmh), F(rvh), C(xh), C(gh), C(bh), N, Ch, HW, 1e-5f, 0.1f, act);
    cpu::batchnorm_act_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(yh), C(xh), C(gh), C(bh), N, Ch, HW, act);
    cuda::batchnorm_act_forward_train(F(y), F(m), F(r), F(rm), F(rv), C(x), C(g), C(bt), N, Ch, HW, 1e-5f, 0.1f, act);
    cuda::batchnorm_act_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(y), C(x), C(g), C(bt), N, Ch, HW, act);
  } else {
    cpu::groupnorm_forward(F(zh), F(m2), F(r2), C(xh), C(gh), C(bh), N, Ch, HW, G, 1e-5f);
    cpu::groupnorm_act_forward(F(yh), F(mh), F(rh), C(xh), C(gh), C(bh), N, Ch, HW, G, 1e-5f, act);
    cpu::groupnorm_act_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(yh), C(xh), C(gh), C(bh), N, Ch, HW, G, act);
    cuda::groupnorm_act_forward(F(y), F(m), F(r), C(x), C(g), C(bt), N, Ch, HW, G, 1e-5f, act);
    cuda::groupnorm_act_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(y), C(x), C(g), C(bt), N, Ch, HW, G, act);
  }
  const auto a = dx.to_vector(), b = dxh.to_vector(), z = zh.to_vector(), ya = y.to_vector(), yb = yh.to_vector();
  double my = 0, mdx = 0, moff = 0; long kink = 0, bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    my = std::max(my, std::abs(ya[i] - yb[i]));
    const double e = std::abs(a[i] - b[i]);
    mdx = std::max(mdx, e);
    if (std::abs(z[i]) < 1e-4) ++kink; else moff = std::max(moff, e);
    if (e > 1e-3) { ++bad; std::printf("dx[%zu]: emu %.6f cpu %.6f  z_cpu %.3e  y emu %.3e cpu %.3e\n", i, a[i], b[i], z[i], ya[i], yb[i]); }
  }
  std::printf("%s: largest difference: y %.3e, dx %.3e (off the kink %.3e); %ld elements > 1e-3; %ld with |z| < 1e-4\n", gn ? "GN" : "BN", my, mdx, moff, bad, kink);
}
