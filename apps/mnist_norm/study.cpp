#include "apps/mnist_norm/study.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "apps/mnist_norm/io.h"
#include "core/file.h"

namespace normlab::app {
namespace fs = std::filesystem;
using json = nlohmann::json;

void side_by_side(std::size_t n, int jobs, const std::function<void(std::size_t)>& one) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs && static_cast<std::size_t>(j) < n; ++j)
    threads.emplace_back([&] {
      for (std::size_t i; (i = next++) < n;) {
        try {
          one(i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!failure) failure = std::current_exception();
          next = n;  // start no other run
        }
      }
    });
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

void write_summary(const std::string& dir, const std::vector<RunResult>& runs, const std::vector<Norm>& norms,
                   const TrainConfig& cfg) {
  std::ostringstream csv;
  csv << "norm,seed,parameters,final_test_acc,final_test_loss,mean_epoch_seconds,run,status\n";
  json failed = json::array(), jn = json::array();
  for (const auto& r : runs) {
    if (r.status != "ok") {
      failed.push_back({{"run", fs::path(r.dir).filename().string()}, {"status", r.status}, {"failure", r.failure}});
      std::printf("%s: %s%s%s\n", fs::path(r.dir).filename().string().c_str(),
                  r.status == "diverged" ? "DIVERGED" : "BELOW THE SANITY THRESHOLD",
                  r.failure.empty() ? "" : ": ", r.failure.c_str());
    }
    if (r.status == "diverged") {  // no final metrics: listed, left out of the means
      csv << norm_name(r.norm) << ',' << r.seed << ',' << r.params << ",,,," << fs::path(r.dir).filename().string()
          << ",diverged\n";
      continue;
    }
    double secs = 0;
    for (const auto& m : r.epochs) secs += m.seconds;
    csv << norm_name(r.norm) << ',' << r.seed << ',' << r.params << ',' << r.epochs.back().test_acc << ','
        << r.epochs.back().test_loss << ',' << secs / static_cast<double>(r.epochs.size()) << ','
        << fs::path(r.dir).filename().string() << ',' << r.status << '\n';
  }
  std::printf("\n%-6s %-8s %6s %22s %22s %10s\n", "norm", "params", "seeds", "final test acc (%)", "final test loss",
              "s/epoch");
  for (Norm n : norms) {
    std::vector<double> acc, loss, secs;
    std::vector<std::string> run_dirs;
    int64_t params = 0;
    for (const auto& r : runs)
      if (r.norm == n && r.status != "diverged") {
        acc.push_back(r.epochs.back().test_acc);
        loss.push_back(r.epochs.back().test_loss);
        double s = 0;
        for (const auto& m : r.epochs) s += m.seconds;
        secs.push_back(s / static_cast<double>(r.epochs.size()));
        params = r.params;
        run_dirs.push_back(fs::path(r.dir).filename().string());
      }
    if (acc.empty()) continue;  // every run of this norm diverged
    auto [am, as] = mean_std(acc);
    auto [lm, ls] = mean_std(loss);
    auto [sm, ss] = mean_std(secs);
    const double l1 = run_l1(cfg, n);
    jn.push_back({{"norm", norm_name(n)}, {"l1", l1}, {"parameters", params}, {"seeds", acc.size()},
                  {"test_acc_mean", am}, {"test_acc_std", as}, {"test_loss_mean", lm}, {"test_loss_std", ls},
                  {"epoch_seconds_mean", sm}, {"runs", run_dirs}});
    char b[64], c[64];
    std::snprintf(b, sizeof b, "%.2f +- %.2f", am, as);
    std::snprintf(c, sizeof c, "%.4f +- %.4f", lm, ls);
    std::printf("%-6s %-8lld %6zu %22s %22s %10.2f\n", (norm_name(n) + (l1 > 0 ? "+L1" : "")).c_str(),
                static_cast<long long>(params), acc.size(), b, c, sm);
  }
  json summary = {{"epochs", cfg.epochs}, {"seed", cfg.seed},   {"seeds", cfg.seeds}, {"threads", cfg.threads},
                  {"device", cfg.device}, {"norms", jn}, {"failed_runs", failed}};
  write_file_atomic((fs::path(dir) / "summary.csv").string(), csv.str());
  write_file_atomic((fs::path(dir) / "summary.json").string(), summary.dump(2) + "\n");
}

RunResult load_finished(const std::string& dir, Norm norm, uint64_t seed) {
  const json r = json::parse(read_file((fs::path(dir) / "results.json").string()));
  RunResult res{dir, norm, seed, r.at("parameters").get<int64_t>(), {}, r.value("status", std::string("ok")), ""};
  for (auto& row : read_metrics((fs::path(dir) / "metrics.csv").string()))
    res.epochs.push_back({static_cast<int>(row.at("epoch")), row.at("train_loss"), row.at("train_acc"),
                          row.at("test_loss"), row.at("test_acc"), row.at("seconds")});
  return res;
}

}  // namespace normlab::app
