// bench_kernels' harness (apps/bench_kernels/main.cpp says what the program does): the options, a
// table row, timing with the L2 flushed, the copy peer of a memory-bound pass, `Bench`, which
// validates a row, times it beside its reference and prints it (or, under --list, only lists it),
// and `Kept`, the rows of one shape that --only keeps. ops.cpp holds the rows of each op.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"

namespace normlab::bench {

struct Options {
  int repeats = 100, warmup = 10;
  std::string csv = "bench_kernels.csv";
  bool large = true;
  std::string only;   // --only: a regular expression on the rows' op names (empty: every row)
  bool list = false;  // --list: print the rows a run would time, and time nothing
};

// The L2 that --list plans the chunk rows for, needing no GPU to ask: an H100's (and an H200's),
// 50 MiB. Only the large shape (205 MB a tensor) exceeds it; the model's largest layer at batch 128
// (3.5 MB) does not, so any L2 between those gives the same list.
constexpr std::size_t kListL2Bytes = std::size_t(50) << 20;

struct Row {
  std::string op, shape, impl;
  double median_us = 0, min_us = 0, work = 0;  // work: FLOPs or bytes per launch
  bool flops = false;
  double ratio = 0;  // ours / reference time (0: no reference)
  double max_abs_err = -1;
  std::string ref, note;
};

// Evicts the L2 before a timed launch: a write of twice its size (at least 1 MiB).
class L2Flush {
 public:
  L2Flush();
  ~L2Flush();
  L2Flush(const L2Flush&) = delete;
  L2Flush& operator=(const L2Flush&) = delete;
  void operator()();

 private:
  void* buf_ = nullptr;
  std::size_t bytes_ = 0;
};

// Median and minimum of `reps` timed launches of f, in microseconds.
std::pair<double, double> time_us(const std::function<void()>& f, const Options& o, L2Flush& flush);

// Host tensors of N(0, scale^2) values from a seed, and device tensors.
Tensor rand_host(const Shape& s, uint64_t seed, double scale = 1.0);
inline Tensor dev(const Tensor& h) { return h.to_device(Device::cuda); }
inline Tensor dev_empty(const Shape& s) { return Tensor::empty(s, DType::f32, Device::cuda); }
inline Tensor dev_full(const Shape& s, double v) { return Tensor::full(s, v).to_device(Device::cuda); }
inline float* F(Tensor& t) { return t.data<float>(); }
inline const float* C(const Tensor& t) { return t.data<float>(); }

double max_abs_diff(const Tensor& a, const Tensor& b);

// dx's largest difference off the ReLU's kink. Where the CPU's pre-activation z lies within
// kKinkBand of 0, the GPU's z (the same formula, from statistics summed in another order and with
// nvcc's fused multiply-adds) can fall on the other side of the kink, and dx there differs by a
// whole dy * gamma * rstd term: run 4 (2026-11-28, docs/results-gpu.md) failed every BN and GN +act
// row at 51M values by 0.24-0.57, where no row of the model's shapes did; on the CPU emulator the same
// BN case differs from the CPU in 3 values of dx, each with |z| < 2e-8 (by 0.237 and 0.495, run 4's
// two figures), and by at most 2.3e-6 elsewhere. Such values are left out of the comparison and
// counted in `left_out`.
constexpr double kKinkBand = 1e-4;
double max_abs_diff_off_kink(const Tensor& a, const Tensor& b, const std::vector<double>& z, int64_t& left_out);

// The peer of a memory-bound pass: a device-to-device copy that moves the same bytes (reads half,
// writes half), timed the same way. Its time against ours is the fraction of the copy bandwidth
// measured in this run that our kernels reach (issue 9: norm forward + backward >= 70% of it, i.e.
// ratio <= 1.43).
class CopyPeer {
 public:
  explicit CopyPeer(double bytes_moved);
  ~CopyPeer();
  CopyPeer(const CopyPeer&) = delete;
  CopyPeer& operator=(const CopyPeer&) = delete;
  void operator()();

 private:
  std::size_t half_;
  void* src_ = nullptr;
  void* dst_ = nullptr;
};
constexpr const char* kCopyRef = "cudaMemcpy D2D of the same bytes";

// A row's rate (GFLOP/s or GB/s) and, for a byte rate, its % of the DRAM peak.
double rate_of(const Row& r);
double pct_of(const Row& r, double peak);

// One table line (µs, rate, % of the DRAM peak, ratio, error, reference or note).
void print_row(const Row& r, double peak);

// The DRAM peak in GB/s, from the memory clock and bus width.
double dram_peak_gbs();

struct Bench {
  // Under o.list, touches no GPU: peak 0, l2_bytes kListL2Bytes. Else the device's.
  Bench(const Options& o, std::optional<std::regex> only);

  Options o;
  std::optional<L2Flush> flush;  // (none under --list)
  double peak = 0;               // DRAM GB/s, for the % column
  std::size_t l2_bytes = 0;      // the L2 the chunk rows are planned for
  std::vector<Row> rows;
  std::optional<std::regex> only;  // --only
  int skipped = 0;                 // rows --only left out
  int listed = 0;                  // rows --list printed

  // Whether the row named op (of the shape named shape) is to be validated and timed: whether --only
  // keeps it; counts the ones left out. Under --list it prints a kept row and answers false.
  bool wants(const std::string& op, const std::string& shape);
  void add(const Row& r);
  // Validates (err <= tol), then times ours and, when given, the reference.
  void run(const std::string& op, const std::string& shape, double work, bool flops, double err, double tol,
           const std::string& ref_name, const std::function<void()>& ours, const std::function<void()>& ref);
  // A norm's forward then backward on n elements (x, y, dy, x, dx: 20n bytes) against the copy peer.
  void fwd_bwd(const std::string& op, const std::string& shape, double n, double err, const std::function<void()>& f,
               const std::function<void()>& bw);
};

// The rows of one shape that --only keeps, asked (Bench::wants) before anything is allocated: so
// --list allocates nothing, and a shape none of whose rows is kept costs nothing.
class Kept {
 public:
  void ask(Bench& b, const std::string& op, const std::string& shape) {
    if (b.wants(op, shape)) rows_.insert(op);
  }
  bool has(const std::string& op) const { return rows_.count(op) > 0; }
  bool empty() const { return rows_.empty(); }

 private:
  std::set<std::string> rows_;
};

// The rows of each op (ops.cpp): every version of ours (kernels/cuda/versions.h) beside its reference.
void bench_conv(Bench& b, const Conv2dShape& s);
void bench_bn(Bench& b, int N, int Ch, int H, int W);
void bench_gn_ln(Bench& b, int N, int Ch, int H, int W, int G, bool ln);
void bench_norm_act(Bench& b, int N, int Ch, int H, int W, const std::string& kernel);
void bench_pointwise(Bench& b, int N, int Ch, int H, int W);

}  // namespace normlab::bench
