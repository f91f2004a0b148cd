#include "apps/mnist_norm/explain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/mnist_norm/io.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/mnist.h"
#include "layers/mnist_net.h"

namespace normlab::app {
namespace fs = std::filesystem;
namespace {

constexpr int N = 2, C = 4, S = 3, HW = S * S, G = 2;  // 2 images x 4 channels x 3x3 crop; GN with 2 groups
constexpr int kCrop = 12;                               // crop rows/cols 12..14 of the 26x26 map
const double kGamma[C] = {1.5, 0.5, 1.0, 2.0};          // illustrative affine parameters
const double kBeta[C] = {0.1, -0.2, 0.0, 0.3};
constexpr double kEps = 1e-5;

using Tensor4 = std::vector<double>;  // [N, C, S, S], row-major
int at(int n, int c, int i) { return (n * C + c) * HW + i; }

void print_tensor(const char* name, const Tensor4& t) {
  std::printf("%s  [n][c] 3x3 blocks, channels side by side\n", name);
  for (int n = 0; n < N; ++n)
    for (int r = 0; r < S; ++r) {
      std::printf("  %s", r == 0 ? ("n=" + std::to_string(n)).c_str() : "   ");
      for (int c = 0; c < C; ++c) {
        std::printf("  |");
        for (int q = 0; q < S; ++q) std::printf(" %8.4f", t[static_cast<std::size_t>(at(n, c, r * S + q))]);
      }
      std::printf("\n");
    }
}

// One normalization by hand: `sets` lists, for each statistic, the element indices it averages
// over; `chan(i)` the channel of element i (for the affine step).
Tensor4 by_hand(const char* title, const Tensor4& x, const std::vector<std::pair<std::string, std::vector<int>>>& sets) {
  std::printf("\n---- %s ----\n", title);
  std::printf("  %-16s %6s %12s %12s %12s\n", "statistic over", "count", "mean", "variance", "1/sqrt(v+eps)");
  Tensor4 xhat(x.size()), y(x.size());
  for (const auto& [label, idx] : sets) {
    double s = 0;
    for (int i : idx) s += x[static_cast<std::size_t>(i)];
    const double mean = s / static_cast<double>(idx.size());
    double v = 0;
    for (int i : idx) v += (x[static_cast<std::size_t>(i)] - mean) * (x[static_cast<std::size_t>(i)] - mean);
    v /= static_cast<double>(idx.size());
    const double rstd = 1 / std::sqrt(v + kEps);
    std::printf("  %-16s %6zu %12.6f %12.6f %12.6f\n", label.c_str(), idx.size(), mean, v, rstd);
    for (int i : idx) {
      const int c = (i / HW) % C;
      xhat[static_cast<std::size_t>(i)] = (x[static_cast<std::size_t>(i)] - mean) * rstd;
      y[static_cast<std::size_t>(i)] = kGamma[c] * xhat[static_cast<std::size_t>(i)] + kBeta[c];
    }
  }
  print_tensor("normalized xhat = (x - mean) * rstd", xhat);
  print_tensor("output y = gamma_c * xhat + beta_c", y);
  return y;
}

double framework(Module& layer, const Tensor4& x, const Tensor4& want, bool training) {
  Tensor t = Tensor::empty({N, C, S, S});
  for (std::size_t i = 0; i < x.size(); ++i) t.set(static_cast<int64_t>(i), x[i]);
  for (auto& p : layer.parameters()) {
    const bool is_gamma = p->name == "gamma";
    for (int c = 0; c < C; ++c) p->value.set(c, is_gamma ? kGamma[c] : kBeta[c]);
  }
  Context ctx;
  ctx.training = training;
  Var y = layer.forward(make_var(t), ctx);
  double d = 0;
  for (std::size_t i = 0; i < want.size(); ++i) d = std::max(d, std::abs(y->value.get(static_cast<int64_t>(i)) - want[i]));
  return d;
}

}  // namespace

int run_explain(const ExplainConfig& cfg) {
  MnistSplit test = load_mnist(resolve_data_dir(cfg.data), false, 2);
  Rng rng(cfg.seed);
  NetConfig nc;
  if (!cfg.checkpoint.empty()) {  // the run's own network, from the config.json beside its model.ckpt:
    // its arch and whether it has Dropout layers (they shift the checkpoint's layer indices)
    const fs::path conf = fs::path(cfg.checkpoint).parent_path() / "config.json";
    if (fs::exists(conf)) {
      const nlohmann::json j = nlohmann::json::parse(read_file(conf.string()));
      nc.arch = j.value("arch", std::string(kFirstStudyArch));
      nc.dropout = j.value("dropout", 0.0);
    }
  }
  auto net = build_mnist_net(nc, rng);
  if (!cfg.checkpoint.empty()) load_checkpoint(cfg.checkpoint, net->state_dict());
  Context ctx;  // eval, no tape
  Var a = net->at(0).forward(make_var(test.images), ctx);  // first conv: [2, 8, 26, 26] by default
  const int64_t a_c = a->value.shape()[1], a_w = a->value.shape()[3];
  if (a_c < C || a_w < kCrop + S)
    throw InputError("explain needs a first convolution with >= " + std::to_string(C) + " channels on a map >= " +
                     std::to_string(kCrop + S) + " wide; architecture '" + nc.arch + "' has " + std::to_string(a_c) +
                     " channels, " + std::to_string(a_w) + " wide");
  Tensor4 x(static_cast<std::size_t>(N * C * HW));
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < S; ++r)
        for (int q = 0; q < S; ++q)
          x[static_cast<std::size_t>(at(n, c, r * S + q))] =
              a->value.get(((static_cast<int64_t>(n) * a_c + c) * a_w + kCrop + r) * a_w + kCrop + q);

  std::printf("normlab explain: how BN, GN and LN normalize the same activations\n\n");
  std::printf("x: output of the network's first convolution (%s) on MNIST test images #0 (label %d) and #1 "
              "(label %d);\nchannels 0-3, rows/cols %d-%d of the 26x26 map. eps = %g. Illustrative affine parameters: "
              "gamma = [%g, %g, %g, %g], beta = [%g, %g, %g, %g].\n\n",
              cfg.checkpoint.empty() ? ("fresh init, seed " + std::to_string(cfg.seed)).c_str() : cfg.checkpoint.c_str(),
              test.labels.data<int32_t>()[0], test.labels.data<int32_t>()[1], kCrop, kCrop + S - 1, kEps, kGamma[0],
              kGamma[1], kGamma[2], kGamma[3], kBeta[0], kBeta[1], kBeta[2], kBeta[3]);
  print_tensor("x", x);

  std::vector<std::pair<std::string, std::vector<int>>> bn, gn, ln;
  for (int c = 0; c < C; ++c) {  // BN: per channel, over (n, h, w)
    std::vector<int> idx;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) idx.push_back(at(n, c, i));
    bn.emplace_back("channel c=" + std::to_string(c), idx);
  }
  for (int n = 0; n < N; ++n)  // GN: per sample and group of C/G channels, over (c in g, h, w)
    for (int g = 0; g < G; ++g) {
      std::vector<int> idx;
      for (int c = g * C / G; c < (g + 1) * C / G; ++c)
        for (int i = 0; i < HW; ++i) idx.push_back(at(n, c, i));
      gn.emplace_back("n=" + std::to_string(n) + " g=" + std::to_string(g), idx);
    }
  for (int n = 0; n < N; ++n) {  // LN: per sample, over (c, h, w)
    std::vector<int> idx;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) idx.push_back(at(n, c, i));
    ln.emplace_back("sample n=" + std::to_string(n), idx);
  }
  const Tensor4 ybn = by_hand("Batch Norm: one mean/variance per channel, over (N, H, W) = 2 x 3 x 3 = 18 values", x, bn);
  const Tensor4 ygn = by_hand("Group Norm (G = 2): per sample and group of 2 channels, over (C/G, H, W) = 18 values", x, gn);
  const Tensor4 yln = by_hand("Layer Norm: per sample, over (C, H, W) = 4 x 3 x 3 = 36 values", x, ln);

  NormConfig ncfg;
  ncfg.eps = kEps;
  ncfg.groups = G;
  BatchNorm2d lbn(C, ncfg);
  GroupNorm lgn(C, ncfg);
  LayerNorm lln({C, S, S}, ncfg);
  const double dbn = framework(lbn, x, ybn, true);
  const double dgn = framework(lgn, x, ygn, true);
  const double dln = framework(lln, x, yln, true);
  std::printf("\nThe framework's own layers (float32 kernels in kernels/cpu/) on the same x, against the hand-worked "
              "double values:\n");
  std::printf("bn max_abs_diff=%.3e\ngn max_abs_diff=%.3e\nln max_abs_diff=%.3e\n", dbn, dgn, dln);
  return 0;
}

}  // namespace normlab::app
