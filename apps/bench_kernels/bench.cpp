// bench_kernels' harness: see bench.h.
#include "apps/bench_kernels/bench.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/cuda_check.h"
#include "core/device.h"
#include "core/rng.h"

namespace normlab::bench {

L2Flush::L2Flush() {
  int dev = 0, l2 = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
  bytes_ = std::max<std::size_t>(2 * static_cast<std::size_t>(l2), 1 << 20);
  CUDA_CHECK(cudaMalloc(&buf_, bytes_));
}
L2Flush::~L2Flush() { cudaFree(buf_); }
void L2Flush::operator()() { CUDA_CHECK(cudaMemsetAsync(buf_, 0, bytes_, cuda_stream())); }

std::pair<double, double> time_us(const std::function<void()>& f, const Options& o, L2Flush& flush) {
  for (int i = 0; i < o.warmup; ++i) f();
  CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> us;
  for (int r = 0; r < o.repeats; ++r) {
    flush();
    CUDA_CHECK(cudaEventRecord(a, cuda_stream()));
    f();
    CUDA_CHECK(cudaEventRecord(b, cuda_stream()));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    us.push_back(1000.0 * ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(us.begin(), us.end());
  const std::size_t n = us.size();
  const double med = n % 2 ? us[n / 2] : 0.5 * (us[n / 2 - 1] + us[n / 2]);
  return {med, us.front()};
}

Tensor rand_host(const Shape& s, uint64_t seed, double scale) {
  Tensor t = Tensor::empty(s);
  Rng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, scale * r.normal());
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

double max_abs_diff_off_kink(const Tensor& a, const Tensor& b, const std::vector<double>& z, int64_t& left_out) {
  const auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  left_out = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(z[i]) < kKinkBand) {
      ++left_out;
      continue;
    }
    m = std::max(m, std::abs(x[i] - y[i]));
  }
  return m;
}

CopyPeer::CopyPeer(double bytes_moved) : half_(static_cast<std::size_t>(bytes_moved / 2)) {
  CUDA_CHECK(cudaMalloc(&src_, half_));
  CUDA_CHECK(cudaMalloc(&dst_, half_));
  CUDA_CHECK(cudaMemsetAsync(src_, 0, half_, cuda_stream()));
}
CopyPeer::~CopyPeer() {
  cudaFree(src_);
  cudaFree(dst_);
}
void CopyPeer::operator()() { CUDA_CHECK(cudaMemcpyAsync(dst_, src_, half_, cudaMemcpyDeviceToDevice, cuda_stream())); }

double rate_of(const Row& r) { return r.median_us > 0 ? r.work / (r.median_us * 1e-6) / 1e9 : 0; }
double pct_of(const Row& r, double peak) { return (!r.flops && rate_of(r) > 0) ? 100.0 * rate_of(r) / peak : 0; }

void print_row(const Row& r, double peak) {
  const double rate = rate_of(r), pct = pct_of(r, peak);
  char rs[32], ps[16], ra[16], er[16];
  std::snprintf(rs, sizeof rs, "%.1f %s", rate, r.flops ? "GF/s" : "GB/s");
  std::snprintf(ps, sizeof ps, r.flops ? "-" : "%.0f%%", pct);
  std::snprintf(ra, sizeof ra, r.ratio > 0 ? "%.2fx" : "-", r.ratio);
  std::snprintf(er, sizeof er, r.max_abs_err >= 0 ? "%.1e" : "-", r.max_abs_err);
  std::printf("%-24s %-28s %-8s %10.1f %10s %9s %8s %10s  %s\n", r.op.c_str(), r.shape.c_str(),
              r.impl == "ours" ? "ours" : "ref", r.median_us, rs, ps, ra, er,
              (r.note.empty() ? r.ref : r.note).c_str());
  std::fflush(stdout);  // a run stopped by a time limit keeps every row measured so far
}

double dram_peak_gbs() {
  int dev = 0, clock_khz = 0, bus_bits = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
}

Bench::Bench(const Options& opt, std::optional<std::regex> only_rows) : o(opt), only(std::move(only_rows)) {
  if (o.list) {
    l2_bytes = kListL2Bytes;
    return;
  }
  flush.emplace();
  peak = dram_peak_gbs();
  l2_bytes = cuda_l2_bytes();
}

bool Bench::wants(const std::string& op, const std::string& shape) {
  if (only && !std::regex_search(op, *only)) {
    ++skipped;
    return false;
  }
  if (!o.list) return true;
  std::printf("%-24s %s\n", op.c_str(), shape.c_str());
  ++listed;
  return false;
}

void Bench::add(const Row& r) {
  rows.push_back(r);
  print_row(r, peak);
}

void Bench::run(const std::string& op, const std::string& shape, double work, bool flops, double err, double tol,
                const std::string& ref_name, const std::function<void()>& ours, const std::function<void()>& ref) {
  Row r{op, shape, "ours", 0, 0, work, flops, 0, err, ref_name, ""};
  if (!(err <= tol)) {
    r.note = "FAILED validation (max abs err " + std::to_string(err) + " > " + std::to_string(tol) + ")";
    add(r);
    return;
  }
  std::tie(r.median_us, r.min_us) = time_us(ours, o, *flush);
  if (ref) {
    Row q{op, shape, ref_name, 0, 0, work, flops, 0, -1, ref_name, ""};
    std::tie(q.median_us, q.min_us) = time_us(ref, o, *flush);
    r.ratio = r.median_us / q.median_us;
    add(r);
    add(q);
  } else {
    add(r);
  }
}

void Bench::fwd_bwd(const std::string& op, const std::string& shape, double n, double err,
                    const std::function<void()>& f, const std::function<void()>& bw) {
  CopyPeer copy(20 * n);
  run(
      op, shape, 20 * n, false, err, 1e-3, kCopyRef,
      [&] {
        f();
        bw();
      },
      [&] { copy(); });
}

}  // namespace normlab::bench
