// bench_kernels: our CUDA kernels against cuDNN (convolution, batch norm) and cuBLAS (the GEMM of a
// 1x1 convolution), on the model's real layer shapes at batch 128 and on one large shape
// (N=256, C=64, 56x56). A program, not a test: for every row it
//   1. validates: ours against the reference on the same inputs (cuDNN, else the CPU kernels),
//      printing the max abs error; a row outside tolerance is reported FAILED and not timed;
//   2. warms up (--warmup launches), then times --repeats launches one by one with CUDA events,
//      flushing the L2 cache (a write of twice its size) before each, and reports the median;
//   3. prints its table line at once (µs, GFLOP/s or GB/s, % of DRAM peak, ratio to the reference),
//      so a run cut short keeps what it measured; the CSV is rewritten (temporary file, then
//      renamed) after every shape, so it too keeps the rows timed before a cut.
// GB/s counts the bytes an ideal kernel must move (each input read once, each output written once);
// FLOP counts are 2*N*K*C*R*R*Ho*Wo per convolution pass. The convolution and norm rows come once
// per version of our kernels (kernels/cuda/versions.h: "conv fwd v1", "conv fwd v2", ...), each
// with the reference timed beside it. Each norm's "fwd+bwd" row is timed against a device-to-device
// copy that moves the same bytes: its ratio is the copy's bandwidth over ours, both from this run.
// "BN+act fwd+bwd vN" (and GN, LN): the norm with the model's ReLU + dropout after it, composed in
// versions 1-3, fused from version 4 on (kernels/cuda/versions.h says what each later version
// changes), against the same copy peer. The plain norm rows skip version 4 (it changes only the
// *_act ops); where a tensor does not fit in L2 (the large shape), BN's version 8 and GN's and
// LN's version 7 (chunks re-read from L2) are timed also with their chunks planned on half and on
// twice the L2 ("BN fwd+bwd v8 L2/2", "GN fwd+bwd v7 L2*2", ...).
// --only REGEX keeps the rows whose op name (the first column: "conv fwd v4", "BN fwd+bwd v8 L2/2",
// "GN+act fwd+bwd v5", ...) the regular expression matches somewhere; the others are neither
// validated nor timed, and the CPU references and cuDNN set-ups that only they need are not made.
// GPU time comes in minutes (docs/results-gpu.md): a run can time just the versions it has not.
// --list prints the rows (op name and shape) that a run with the same options would validate and
// time, and times nothing: it needs no GPU, so an --only for a GPU session is checked beforehand.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "apps/bench_kernels/bench.h"
#include "core/device.h"
#include "core/file.h"

using namespace normlab;
using namespace normlab::bench;

int main(int argc, char** argv) {
  CLI::App app{"bench_kernels: normlab's CUDA kernels against cuDNN and cuBLAS"};
  Options o;
  app.add_option("--repeats", o.repeats, "timed launches per kernel (median reported; at least 50)")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed launches before timing")->capture_default_str();
  app.add_option("--csv", o.csv, "CSV output file")->capture_default_str();
  app.add_flag("!--no-large", o.large, "skip the large shape (N=256, C=64, 56x56)");
  app.add_option("--only", o.only,
                 "time only the rows whose op name matches this regular expression somewhere (ECMAScript), "
                 "e.g. 'BN fwd\\+bwd v[58]|conv fwd v[24]'; a row's reference is timed with it");
  app.add_flag("--list", o.list,
               "print the rows (op, shape) a run with these options would time, and exit; needs no GPU "
               "(the chunk-plan rows as for a 50 MiB L2)");
  CLI11_PARSE(app, argc, argv);
  if (o.repeats < 50 || o.warmup < 1) {
    std::fprintf(stderr, "bench_kernels: --repeats must be >= 50 and --warmup >= 1 (a median of fewer is noise)\n");
    return 2;
  }
  std::optional<std::regex> only;
  if (!o.only.empty()) {
    try {
      only.emplace(o.only);
    } catch (const std::regex_error& e) {
      std::fprintf(stderr, "bench_kernels: --only '%s' is not a regular expression (%s); escape '+' as '\\+'\n",
                   o.only.c_str(), e.what());
      return 2;
    }
  }
  const auto matched_none = [&] {
    std::fprintf(stderr,
                 "bench_kernels: --only '%s' matched no row; rows are named like 'conv fwd v4', "
                 "'conv bwd-weight v3', 'BN fwd+bwd v8', 'GN fwd+bwd v7 L2/2', 'LN+act fwd+bwd v5', 'ReLU fwd' "
                 "(--list shows them all)\n",
                 o.only.c_str());
    return 2;
  };
  std::string why;
  if (!o.list && !cuda_available(&why)) {
    std::fprintf(stderr, "bench_kernels: no usable GPU (%s); the benchmarks need one\n", why.c_str());
    return 2;
  }
  try {
    Bench b(o, only);
    if (o.list) {
      std::printf("Rows a run with these options would validate and time%s (op, shape):\n\n",
                  only ? (" (those --only '" + o.only + "' keeps)").c_str() : "");
    } else {
      std::printf(
          "GPU: %s; DRAM peak %.0f GB/s (from clock and bus width); %d repeats after %d warm-up launches, "
          "L2 flushed before each\n",
          cuda_device_name().c_str(), b.peak, o.repeats, o.warmup);
      std::printf("\n%-24s %-28s %-8s %10s %10s %9s %8s %10s  %s\n", "op", "shape", "impl", "median us", "rate",
                  "% DRAM", "ratio", "max err", "reference / note");
      if (only) std::printf("Rows: those whose op name matches --only '%s'\n", o.only.c_str());
    }
    // The CSV of the rows so far, written (to a temporary file, then renamed) after every shape, so
    // that a run stopped by a time limit (run 4's was, in its last rows) keeps a CSV of what it timed.
    const auto save_csv = [&] {
      if (o.list) return;  // (--list writes nothing)
      std::ostringstream csv;
      csv << "op,shape,impl,median_us,min_us,rate,rate_unit,pct_dram_peak,ratio_ours_over_ref,max_abs_err,reference,"
             "note\n";
      for (const auto& r : b.rows) {
        csv << r.op << ',' << r.shape << ',' << '"' << r.impl << '"' << ',' << r.median_us << ',' << r.min_us << ','
            << rate_of(r) << ',' << (r.flops ? "GFLOP/s" : "GB/s") << ',' << pct_of(r, b.peak) << ',' << r.ratio << ','
            << r.max_abs_err << ',' << '"' << r.ref << '"' << ',' << '"' << r.note << '"' << '\n';
      }
      write_file_atomic(o.csv, csv.str());
    };
    // The model's layers at batch 128 (the default --arch 8,12,t8,m,12,16,16,12p, layers/mnist_net.h)
    // first, then the large shape, its convolution last: version 1's weight gradient there is the
    // slowest row, and a run stopped by a time limit keeps the rows before it.
    const std::vector<Conv2dShape> convs = {
        {128, 1, 28, 28, 8, 3, 0},   {128, 8, 26, 26, 12, 3, 0}, {128, 12, 24, 24, 8, 1, 0}, {128, 8, 12, 12, 12, 3, 0},
        {128, 12, 10, 10, 16, 3, 0}, {128, 16, 8, 8, 16, 3, 0},  {128, 16, 6, 6, 12, 3, 1},  {128, 12, 1, 1, 10, 1, 0}};
    for (const auto& s : convs) {
      bench_conv(b, s);
      save_csv();
    }
    struct NormShape {
      int N, C, H, W;
    };
    std::vector<NormShape> norms = {{128, 8, 26, 26}, {128, 12, 24, 24}, {128, 12, 10, 10},
                                    {128, 16, 8, 8},  {128, 16, 6, 6},   {128, 12, 6, 6}};
    if (o.large) norms.push_back({256, 64, 56, 56});
    for (const auto& s : norms) {
      bench_bn(b, s.N, s.C, s.H, s.W);
      bench_gn_ln(b, s.N, s.C, s.H, s.W, 2, false);
      bench_gn_ln(b, s.N, s.C, s.H, s.W, 0, true);
      for (const char* k : {"batchnorm", "groupnorm", "layernorm"}) bench_norm_act(b, s.N, s.C, s.H, s.W, k);
      save_csv();
    }
    bench_pointwise(b, 128, 12, 24, 24);
    if (o.large) bench_pointwise(b, 256, 64, 56, 56);
    save_csv();
    if (o.large) bench_conv(b, {256, 64, 56, 56, 64, 3, 1});

    save_csv();
    if (o.list) {
      std::printf("\n%d rows%s\n", b.listed,
                  only ? (" of " + std::to_string(b.listed + b.skipped) + " (--only '" + o.only + "')").c_str() : "");
      return b.listed == 0 ? matched_none() : 0;
    }
    std::printf("\nratio = our median time / the reference's (below 1: ours is faster). CSV: %s\n", o.csv.c_str());
    if (only) {
      const auto ours = std::count_if(b.rows.begin(), b.rows.end(), [](const Row& r) { return r.impl == "ours"; });
      std::printf("--only '%s': %lld of our rows timed (or failed validation), %d left out\n", o.only.c_str(),
                  static_cast<long long>(ours), b.skipped);
      if (ours == 0) return matched_none();
    }
    bool failed = false;
    for (const auto& r : b.rows) failed = failed || !r.note.empty();
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
}
