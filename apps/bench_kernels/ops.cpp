// bench_kernels' rows, op by op (apps/bench_kernels/main.cpp says what each row measures and how).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "apps/bench_kernels/bench.h"
#include "apps/bench_kernels/cudnn_ref.h"
#include "core/cuda_check.h"
#include "core/device.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/versions.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"
#include "kernels/maxpool.h"
#include "kernels/relu.h"

namespace normlab::bench {
namespace {

std::string conv_name(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N" << s.N << " " << s.C << "->" << s.K << " " << s.H << "x" << s.W << " k" << s.R << " p" << s.pad;
  return os.str();
}

// "N128 C8 26x26": a norm's or a point-wise op's shape.
std::string shape_name(int N, int Ch, int H, int W) {
  std::ostringstream os;
  os << "N" << N << " C" << Ch << " " << H << "x" << W;
  return os.str();
}

// The chunk plans: where the tensor does not fit in L2, the chunked version v of a norm (batch
// norm's 8, group and layer norm's 7: chunks re-read from L2) forward + backward again with its
// chunks planned on half and on twice the device's L2 (its default plan: the L2 itself): which chunk
// size this GPU's L2 rewards. Rows "<op> fwd+bwd v<v> L2/2" and "... L2*2".
constexpr std::pair<double, const char*> kChunkPlans[] = {{0.5, " L2/2"}, {2.0, " L2*2"}};
constexpr int kBnChunked = 8, kSegChunked = 7;  // the chunked versions (kernels/cuda/versions.h)
std::string chunk_row(const std::string& op, int v, const char* tag) {
  return op + " fwd+bwd v" + std::to_string(v) + tag;
}

// The plain norm rows of one shape that --only keeps: "<op> <fwd>", "<op> bwd" and "<op> fwd+bwd"
// for every version with its own plain op (kernels/cuda/versions.h; the others' rows would repeat the
// version before), then the chunk plans' rows of version chunked_v where the tensor exceeds the L2.
Kept plain_norm_rows(Bench& b, const std::string& op, const std::string& fwd, const std::string& kernel, int chunked_v,
                     const std::string& shape, double n) {
  Kept kept;
  for (int v = 1; v <= cuda::kernel_version_count(kernel); ++v) {
    if (!cuda::norm_has_own_plain(v)) continue;
    const std::string tag = " v" + std::to_string(v);
    for (const std::string& row : {op + " " + fwd + tag, op + " bwd" + tag, op + " fwd+bwd" + tag})
      kept.ask(b, row, shape);
  }
  if (n * sizeof(float) > double(b.l2_bytes))
    for (const auto& [factor, tag] : kChunkPlans) kept.ask(b, chunk_row(op, chunked_v, tag), shape);
  return kept;
}

// Times the kept chunk plans' rows; err() validates each after its first run.
void chunk_plans(Bench& b, const Kept& kept, const std::string& op, const std::string& kernel, int v,
                 const std::string& shape, double n, const std::function<void()>& f, const std::function<void()>& bw,
                 const std::function<double()>& err) {
  const cuda::VersionGuard guard(kernel);
  cuda::set_kernel_version(kernel, v);
  for (const auto& [factor, tag] : kChunkPlans) {
    const std::string row = chunk_row(op, v, tag);
    if (!kept.has(row)) continue;
    cuda::set_l2_plan_bytes(std::size_t(factor * double(b.l2_bytes)));
    f();
    bw();
    b.fwd_bwd(row, shape, n, err(), f, bw);
  }
}

}  // namespace

// Every version of our convolution (kernels/cuda/versions.h) against the same cuDNN reference:
// rows "conv fwd v1", "conv fwd v2", ... (a version that changes only the weight gradient gets
// only its "conv bwd-weight" row); the newest stays selected afterwards.
void bench_conv(Bench& b, const Conv2dShape& s) {
  const std::string name = conv_name(s);
  Kept kept;  // the rows --only keeps, asked before anything is made
  for (int v = 1; v <= cuda::kernel_version_count("conv2d"); ++v) {
    const std::string tag = " v" + std::to_string(v);
    if (cuda::conv2d_has_own_forward(v)) {  // else its forward and data-gradient rows would repeat v-1's
      kept.ask(b, "conv fwd" + tag, name);
      kept.ask(b, "conv bwd-data" + tag, name);
    }
    if (cuda::conv2d_has_own_weight_grad(v)) kept.ask(b, "conv bwd-weight" + tag, name);  // likewise
    // A 1x1 convolution is a GEMM: cuBLAS as a second reference.
    if (cuda::conv2d_has_own_forward(v) && s.R == 1 && s.pad == 0) kept.ask(b, "conv fwd (1x1 as GEMM)" + tag, name);
  }
  if (kept.empty()) return;
  const Shape xs{s.N, s.C, s.H, s.W}, ws{s.K, s.C, s.R, s.R}, ys{s.N, s.K, s.Ho(), s.Wo()};
  Tensor x = dev(rand_host(xs, 1)), w = dev(rand_host(ws, 2, 0.3)), dy = dev(rand_host(ys, 3));
  Tensor y = dev_empty(ys), yr = dev_empty(ys), dx = dev_empty(xs), dxr = dev_empty(xs), dwr = dev_full(ws, 0.0);
  const double fl = 2.0 * s.N * s.K * s.C * s.R * s.R * s.Ho() * s.Wo();
  std::string ref;
  // cuDNN's set-up (its fastest algorithms, found by timing them) and its outputs, made before the
  // first row that needs them.
  std::optional<ref::CudnnConv> cudnn;
  const auto reference = [&]() -> ref::CudnnConv& {
    if (!cudnn) {
      cudnn.emplace(s, true);
      ref = "cuDNN (" + cudnn->algorithms() + ")";
      cudnn->forward(F(yr), C(x), C(w), nullptr);
      cudnn->backward_data(F(dxr), C(dy), C(w));
    }
    return *cudnn;
  };
  cuda::for_each_version("conv2d", [&](int v) {  // every version (kernels/cuda/versions.h) beside cuDNN
    const std::string tag = " v" + std::to_string(v);
    if (kept.has("conv fwd" + tag)) {
      ref::CudnnConv& c = reference();
      cuda::conv2d_forward<float>(F(y), C(x), C(w), nullptr, s);
      b.run(
          "conv fwd" + tag, name, fl, true, max_abs_diff(y, yr), 1e-3, ref,
          [&] { cuda::conv2d_forward<float>(F(y), C(x), C(w), nullptr, s); },
          [&] { c.forward(F(yr), C(x), C(w), nullptr); });
    }
    if (kept.has("conv bwd-data" + tag)) {
      ref::CudnnConv& c = reference();
      cuda::conv2d_backward_data(F(dx), C(dy), C(w), s);
      b.run(
          "conv bwd-data" + tag, name, fl, true, max_abs_diff(dx, dxr), 1e-3, ref,
          [&] { cuda::conv2d_backward_data(F(dx), C(dy), C(w), s); }, [&] { c.backward_data(F(dxr), C(dy), C(w)); });
    }
    if (kept.has("conv bwd-weight" + tag)) {
      ref::CudnnConv& c = reference();
      // Weight gradients accumulate, cuDNN's too (beta = 1): the previous version's timed reference
      // launches added into dwr, so it is recomputed from zero before this version is validated.
      CUDA_CHECK(cudaMemset(F(dwr), 0, dwr.numel() * sizeof(float)));
      c.backward_weight(F(dwr), nullptr, C(dy), C(x));
      Tensor dw = dev_full(ws, 0.0);
      cuda::conv2d_backward_weight<float>(F(dw), nullptr, C(dy), C(x), s);  // from zero: one accumulation each
      b.run(
          "conv bwd-weight" + tag, name, fl, true, max_abs_diff(dw, dwr),
          1e-3 * std::sqrt(double(s.N) * s.Ho() * s.Wo()), ref,
          [&] { cuda::conv2d_backward_weight<float>(F(dw), nullptr, C(dy), C(x), s); },
          [&] { c.backward_weight(F(dwr), nullptr, C(dy), C(x)); });
    }
    if (kept.has("conv fwd (1x1 as GEMM)" + tag)) {
      Tensor yb = dev_empty(ys);
      ref::cublas_conv1x1_forward(F(yb), C(x), C(w), s.N, s.C, s.H * s.W, s.K);
      cuda::conv2d_forward<float>(F(y), C(x), C(w), nullptr, s);  // (the "conv fwd" row may be left out)
      b.run(
          "conv fwd (1x1 as GEMM)" + tag, name, fl, true, max_abs_diff(y, yb), 1e-3, "cuBLAS SGEMM strided-batched",
          [&] { cuda::conv2d_forward<float>(F(y), C(x), C(w), nullptr, s); },
          [&] { ref::cublas_conv1x1_forward(F(yb), C(x), C(w), s.N, s.C, s.H * s.W, s.K); });
    }
  });
}

void bench_bn(Bench& b, int N, int Ch, int H, int W) {
  const std::string name = shape_name(N, Ch, H, W);
  const double n = double(N) * Ch * H * W;
  const Kept kept = plain_norm_rows(b, "BN", "fwd (train)", "batchnorm", kBnChunked, name, n);
  if (kept.empty()) return;
  const Shape xs{N, Ch, H, W}, cs{Ch};
  const int HW = H * W;
  Tensor x = dev(rand_host(xs, 4, 2.0)), g = dev(rand_host(cs, 5)), bt = dev(rand_host(cs, 6)),
         dy = dev(rand_host(xs, 7));
  Tensor y = dev_empty(xs), yr = dev_empty(xs), m = dev_empty(cs), r = dev_empty(cs), mr = dev_empty(cs),
         rr = dev_empty(cs);
  Tensor rm = dev_full(cs, 0), rv = dev_full(cs, 1), rmr = dev_full(cs, 0), rvr = dev_full(cs, 1);
  Tensor dx = dev_empty(xs), dxr = dev_empty(xs), dg = dev_full(cs, 0), db = dev_full(cs, 0), dgr = dev_full(cs, 0),
         dbr = dev_full(cs, 0);
  ref::CudnnBatchNorm c(N, Ch, H, W);
  auto ours_f = [&] {
    cuda::batchnorm_forward_train(F(y), F(m), F(r), F(rm), F(rv), C(x), C(g), C(bt), N, Ch, HW, 1e-5f, 0.1f);
  };
  auto ref_f = [&] { c.forward_train(F(yr), F(mr), F(rr), F(rmr), F(rvr), C(x), C(g), C(bt), 1e-5, 0.1); };
  auto ours_b = [&] { cuda::batchnorm_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(x), C(g), N, Ch, HW); };
  auto ref_b = [&] { c.backward(F(dxr), F(dgr), F(dbr), C(dy), C(mr), C(rr), C(x), C(g), 1e-5); };
  ref_f();
  ref_b();
  cuda::for_each_version("batchnorm", [&](int v) {  // every version (kernels/cuda/versions.h) beside cuDNN
    const std::string tag = " v" + std::to_string(v);
    // (each row validates on its own outputs: the rows before it may have been left out)
    if (kept.has("BN fwd (train)" + tag)) {
      ours_f();
      b.run("BN fwd (train)" + tag, name, 8 * n, false, max_abs_diff(y, yr), 1e-3, "cuDNN", ours_f, ref_f);
    }
    if (kept.has("BN bwd" + tag)) {
      ours_f();
      ours_b();
      b.run("BN bwd" + tag, name, 12 * n, false, max_abs_diff(dx, dxr), 1e-3, "cuDNN", ours_b, ref_b);
    }
    if (kept.has("BN fwd+bwd" + tag)) {
      ours_f();
      ours_b();
      b.fwd_bwd("BN fwd+bwd" + tag, name, n, std::max(max_abs_diff(y, yr), max_abs_diff(dx, dxr)), ours_f, ours_b);
    }
  });
  chunk_plans(b, kept, "BN", "batchnorm", kBnChunked, name, n, ours_f, ours_b,
              [&] { return std::max(max_abs_diff(y, yr), max_abs_diff(dx, dxr)); });
}

// GN and LN: cuDNN 9's legacy API has no group or layer norm, so ours is validated against the CPU
// kernels and reported in GB/s against the DRAM peak; forward + backward also against a copy.
void bench_gn_ln(Bench& b, int N, int Ch, int H, int W, int G, bool ln) {
  const std::string name = shape_name(N, Ch, H, W) + (ln ? "" : " G" + std::to_string(G));
  const std::string op = ln ? "LN" : "GN", kernel = ln ? "layernorm" : "groupnorm";
  const double n = double(N) * Ch * H * W;
  const Kept kept = plain_norm_rows(b, op, "fwd", kernel, kSegChunked, name, n);
  if (kept.empty()) return;
  const Shape xs{N, Ch, H, W}, cs{Ch}, ss = ln ? Shape{N} : Shape{N, G};
  const int HW = H * W;
  Tensor xh = rand_host(xs, 8, 2.0), gh = rand_host(cs, 9), bh = rand_host(cs, 10), dyh = rand_host(xs, 11);
  Tensor x = dev(xh), g = dev(gh), bt = dev(bh), dy = dev(dyh);
  Tensor y = dev_empty(xs), m = dev_empty(ss), r = dev_empty(ss), dx = dev_empty(xs), dg = dev_full(cs, 0),
         db = dev_full(cs, 0);
  Tensor yh = Tensor::empty(xs), mh = Tensor::empty(ss), rh = Tensor::empty(ss), dxh = Tensor::empty(xs),
         dgh = Tensor::zeros(cs), dbh = Tensor::zeros(cs);
  std::function<void()> f, bw;  // ours; the CPU's outputs are made at once
  if (ln) {
    cpu::layernorm_forward(F(yh), F(mh), F(rh), C(xh), C(gh), C(bh), N, Ch, HW, false, 1e-5f);
    cpu::layernorm_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(xh), C(gh), N, Ch, HW, false);
    f = [&] { cuda::layernorm_forward(F(y), F(m), F(r), C(x), C(g), C(bt), N, Ch, HW, false, 1e-5f); };
    bw = [&] { cuda::layernorm_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(x), C(g), N, Ch, HW, false); };
  } else {
    cpu::groupnorm_forward(F(yh), F(mh), F(rh), C(xh), C(gh), C(bh), N, Ch, HW, G, 1e-5f);
    cpu::groupnorm_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(xh), C(gh), N, Ch, HW, G);
    f = [&] { cuda::groupnorm_forward(F(y), F(m), F(r), C(x), C(g), C(bt), N, Ch, HW, G, 1e-5f); };
    bw = [&] { cuda::groupnorm_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(x), C(g), N, Ch, HW, G); };
  }
  const auto ours = [&] {
    f();
    bw();
  };
  cuda::for_each_version(kernel, [&](int v) {  // every version (kernels/cuda/versions.h)
    const std::string tag = " v" + std::to_string(v), cpu = "CPU kernels (validation only)";
    if (kept.has(op + " fwd" + tag)) {
      ours();
      b.run(op + " fwd" + tag, name, 8 * n, false, max_abs_diff(y, yh), 1e-3, cpu, f, nullptr);
    }
    if (kept.has(op + " bwd" + tag)) {
      ours();
      b.run(op + " bwd" + tag, name, 12 * n, false, max_abs_diff(dx, dxh), 1e-3, cpu, bw, nullptr);
    }
    if (kept.has(op + " fwd+bwd" + tag)) {
      ours();
      b.fwd_bwd(op + " fwd+bwd" + tag, name, n, std::max(max_abs_diff(y, yh), max_abs_diff(dx, dxh)), f, bw);
    }
  });
  chunk_plans(b, kept, op, kernel, kSegChunked, name, n, f, bw,
              [&] { return std::max(max_abs_diff(y, yh), max_abs_diff(dx, dxh)); });
}

// A norm with the model's ReLU + dropout (p = 0.05) after it (batchnorm_act_* ..., kernels/activation.h),
// forward then backward, every version: versions 1-3 run the norm, then the activation's own kernels;
// versions 4 and up fuse them (kernels/cuda/versions.h: 5 on float4 quads, kernels/cuda/vec4.cuh; BN's
// 6 in one kernel each way; BN's 9 and GN's and LN's 8 one block per channel or segment on small
// ones). Validated against the CPU
// kernels (dx off the ReLU's kink: max_abs_diff_off_kink); timed against the copy peer of the same
// bytes as the plain norm rows, so "BN fwd+bwd v3" and "BN+act fwd+bwd v3" differ by the activation.
void bench_norm_act(Bench& b, int N, int Ch, int H, int W, const std::string& kernel) {
  const Shape xs{N, Ch, H, W}, cs{Ch};
  const bool bn = kernel == "batchnorm", gn = kernel == "groupnorm";
  const std::string op = bn ? "BN" : gn ? "GN" : "LN";
  const std::string name = shape_name(N, Ch, H, W);
  const auto row = [&](int v) { return op + "+act fwd+bwd v" + std::to_string(v); };
  Kept kept;  // the rows --only keeps, asked before anything is made
  for (int v = 1; v <= cuda::kernel_version_count(kernel); ++v) kept.ask(b, row(v), name);
  if (kept.empty()) return;
  const int HW = H * W, G = 2;
  const Shape ss = bn ? cs : gn ? Shape{N, G} : Shape{N};
  const double n = double(N) * Ch * HW;
  Tensor xh = rand_host(xs, 13, 2.0), gh = rand_host(cs, 14), bh = rand_host(cs, 15, 0.5), dyh = rand_host(xs, 16);
  Tensor x = dev(xh), g = dev(gh), bt = dev(bh), dy = dev(dyh);
  Tensor y = dev_empty(xs), m = dev_empty(ss), r = dev_empty(ss), dx = dev_empty(xs), dg = dev_full(cs, 0),
         db = dev_full(cs, 0), rm = dev_full(cs, 0), rv = dev_full(cs, 1);
  Tensor yh = Tensor::empty(xs), mh = Tensor::empty(ss), rh = Tensor::empty(ss), dxh = Tensor::empty(xs),
         dgh = Tensor::zeros(cs), dbh = Tensor::zeros(cs), rmh = Tensor::zeros(cs), rvh = Tensor::full(cs, 1.0);
  const Activation<float> act{true, 0.05f, DropoutSeed{77, 0, nullptr}};
  std::function<void()> f, bw;
  Tensor zh = Tensor::empty(xs), m2 = Tensor::empty(ss), r2 = Tensor::empty(ss);  // the CPU's z, to find the kink
  if (bn) {
    Tensor rm2 = Tensor::zeros(cs), rv2 = Tensor::full(cs, 1.0);
    cpu::batchnorm_forward_train(F(zh), F(m2), F(r2), F(rm2), F(rv2), C(xh), C(gh), C(bh), N, Ch, HW, 1e-5f, 0.1f);
    cpu::batchnorm_act_forward_train(F(yh), F(mh), F(rh), F(rmh), F(rvh), C(xh), C(gh), C(bh), N, Ch, HW, 1e-5f, 0.1f,
                                     act);
    cpu::batchnorm_act_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(yh), C(xh), C(gh), C(bh), N, Ch, HW,
                                act);
    f = [&] {
      cuda::batchnorm_act_forward_train(F(y), F(m), F(r), F(rm), F(rv), C(x), C(g), C(bt), N, Ch, HW, 1e-5f, 0.1f, act);
    };
    bw = [&] {
      cuda::batchnorm_act_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(y), C(x), C(g), C(bt), N, Ch, HW, act);
    };
  } else if (gn) {
    cpu::groupnorm_forward(F(zh), F(m2), F(r2), C(xh), C(gh), C(bh), N, Ch, HW, G, 1e-5f);
    cpu::groupnorm_act_forward(F(yh), F(mh), F(rh), C(xh), C(gh), C(bh), N, Ch, HW, G, 1e-5f, act);
    cpu::groupnorm_act_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(yh), C(xh), C(gh), C(bh), N, Ch, HW, G,
                                act);
    f = [&] { cuda::groupnorm_act_forward(F(y), F(m), F(r), C(x), C(g), C(bt), N, Ch, HW, G, 1e-5f, act); };
    bw = [&] {
      cuda::groupnorm_act_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(y), C(x), C(g), C(bt), N, Ch, HW, G, act);
    };
  } else {
    cpu::layernorm_forward(F(zh), F(m2), F(r2), C(xh), C(gh), C(bh), N, Ch, HW, false, 1e-5f);
    cpu::layernorm_act_forward(F(yh), F(mh), F(rh), C(xh), C(gh), C(bh), N, Ch, HW, false, 1e-5f, act);
    cpu::layernorm_act_backward(F(dxh), F(dgh), F(dbh), C(dyh), C(mh), C(rh), C(yh), C(xh), C(gh), C(bh), N, Ch, HW,
                                false, act);
    f = [&] { cuda::layernorm_act_forward(F(y), F(m), F(r), C(x), C(g), C(bt), N, Ch, HW, false, 1e-5f, act); };
    bw = [&] {
      cuda::layernorm_act_backward(F(dx), F(dg), F(db), C(dy), C(m), C(r), C(y), C(x), C(g), C(bt), N, Ch, HW, false,
                                   act);
    };
  }
  const std::vector<double> z = zh.to_vector();
  int64_t left_out = 0;
  cuda::for_each_version(kernel, [&](int v) {
    if (!kept.has(row(v))) return;
    f();
    bw();
    const double err = std::max(max_abs_diff(y, yh), max_abs_diff_off_kink(dx, dxh, z, left_out));
    b.fwd_bwd(row(v), name, n, err, f, bw);
  });
  std::printf("%-24s %-28s (dx compared off the ReLU's kink: %lld of %.0f values with |z| < %.0e left out)\n",
              (op + "+act").c_str(), name.c_str(), static_cast<long long>(left_out), n, kKinkBand);
}

void bench_pointwise(Bench& b, int N, int Ch, int H, int W) {
  const std::string name = shape_name(N, Ch, H, W);
  Kept kept;  // the rows --only keeps, asked before anything is made
  kept.ask(b, "ReLU fwd", name);
  kept.ask(b, "maxpool 2x2 fwd", name);
  if (kept.empty()) return;
  const Shape xs{N, Ch, H, W}, ps{N, Ch, H / 2, W / 2};
  const int64_t n = int64_t(N) * Ch * H * W;
  Tensor xh = rand_host(xs, 12), x = dev(xh), y = dev_empty(xs), yh = Tensor::empty(xs);
  Tensor p = dev_empty(ps), ph = Tensor::empty(ps), am = Tensor::empty(ps, DType::i32, Device::cuda),
         amh = Tensor::empty(ps, DType::i32);
  if (kept.has("ReLU fwd")) {
    cpu::relu_forward(F(yh), C(xh), n);
    cuda::relu_forward(F(y), C(x), n);
    b.run(
        "ReLU fwd", name, 8.0 * n, false, max_abs_diff(y, yh), 0, "CPU kernels (validation only)",
        [&] { cuda::relu_forward(F(y), C(x), n); }, nullptr);
  }
  if (kept.has("maxpool 2x2 fwd")) {
    cpu::maxpool2x2_forward(F(ph), amh.data<int32_t>(), C(xh), N * Ch, H, W);
    cuda::maxpool2x2_forward(F(p), am.data<int32_t>(), C(x), N * Ch, H, W);
    b.run(
        "maxpool 2x2 fwd", name, 4.0 * n + 8.0 * ps[0] * ps[1] * ps[2] * ps[3], false, max_abs_diff(p, ph), 0,
        "CPU kernels (validation only)",
        [&] { cuda::maxpool2x2_forward(F(p), am.data<int32_t>(), C(x), N * Ch, H, W); }, nullptr);
  }
}

}  // namespace normlab::bench
