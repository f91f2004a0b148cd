#include "apps/mnist_norm/sweep.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/mnist_norm/io.h"
#include "apps/mnist_norm/plot.h"
#include "apps/mnist_norm/resume.h"
#include "core/error.h"

namespace normlab::app {
namespace fs = std::filesystem;

std::vector<int> parse_batches(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const bool digits = !item.empty() && item.size() <= 6 && item.find_first_not_of("0123456789") == std::string::npos;
    const int b = digits ? std::stoi(item) : 0;
    if (b < 1) throw InputError("--batches: '" + item + "' is not a batch size; give positive integers, e.g. 2,8,32,128");
    if (std::find(out.begin(), out.end(), b) != out.end())
      throw InputError("--batches: " + item + " is listed twice; list each batch size once");
    out.push_back(b);
  }
  if (out.empty()) throw InputError("--batches: empty; give batch sizes, e.g. 2,8,32,128");
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

struct Row {
  int batch;
  double lr;
  RunResult run;
};

std::string sweep_csv(const std::vector<Row>& rows) {
  std::ostringstream o;
  o << "batch,lr,norm,seed,status,epochs,test_acc,test_loss,train_acc,epoch_seconds\n";
  for (const Row& r : rows) {
    const auto& e = r.run.epochs;
    double sec = 0;
    for (const auto& m : e) sec += m.seconds;
    char b[400];
    if (e.empty())
      std::snprintf(b, sizeof b, "%d,%.6g,%s,%llu,%s,0,,,,\n", r.batch, r.lr, norm_name(r.run.norm).c_str(),
                    static_cast<unsigned long long>(r.run.seed), r.run.status.c_str());
    else
      std::snprintf(b, sizeof b, "%d,%.6g,%s,%llu,%s,%zu,%.2f,%.6f,%.4f,%.2f\n", r.batch, r.lr,
                    norm_name(r.run.norm).c_str(), static_cast<unsigned long long>(r.run.seed), r.run.status.c_str(),
                    e.size(), e.back().test_acc, e.back().test_loss, e.back().train_acc, sec / e.size());
    o << b;
  }
  return o.str();
}

// Per (batch, norm): the final test accuracy over the seeds that finished (diverged runs are counted
// apart, in `diverged`).
std::string summary_csv(const std::vector<Row>& rows, const TrainConfig& base) {
  const std::vector<Norm>& norms = base.norms;
  const int epochs = base.epochs;
  std::ostringstream o;
  o << "batch,norm,label,runs,diverged,test_acc_mean,test_acc_std,test_acc_min,test_acc_max,test_error_mean\n";
  std::vector<int> batches;
  for (const Row& r : rows)
    if (std::find(batches.begin(), batches.end(), r.batch) == batches.end()) batches.push_back(r.batch);
  for (int b : batches)
    for (Norm n : norms) {
      std::vector<double> acc;
      int diverged = 0;
      for (const Row& r : rows)
        if (r.batch == b && r.run.norm == n) {
          if (r.run.status == "diverged" || static_cast<int>(r.run.epochs.size()) < epochs)
            ++diverged;
          else
            acc.push_back(r.run.epochs.back().test_acc);
        }
      const std::string label = std::string(norm_spec(n).label) + (run_l1(base, n) > 0 ? " + L1" : "");
      char line[300];
      if (acc.empty()) {
        std::snprintf(line, sizeof line, "%d,%s,%s,0,%d,,,,,\n", b, norm_name(n).c_str(), label.c_str(), diverged);
      } else {
        const auto [m, sd] = mean_std(acc);
        std::snprintf(line, sizeof line, "%d,%s,%s,%zu,%d,%.3f,%.3f,%.2f,%.2f,%.3f\n", b, norm_name(n).c_str(),
                      label.c_str(), acc.size(), diverged, m, sd, *std::min_element(acc.begin(), acc.end()),
                      *std::max_element(acc.begin(), acc.end()), 100.0 - m);
      }
      o << line;
    }
  return o.str();
}

}  // namespace

int run_sweep(const TrainConfig& base, const SweepConfig& sw) {
  const std::string out = base.out.empty() ? "runs/sweep-" + timestamp() : base.out;
  make_out_dir(out);
  // Every batch size's study: its settings, and whether an earlier sweep left it to continue.
  std::vector<TrainConfig> studies;
  for (int b : sw.batches) {
    TrainConfig c = base;
    c.batch = b;
    c.lr = base.lr * b / sw.base_batch;
    std::string name = "b";
    name += std::to_string(b);  // (not "b" + to_string: GCC 12's -Wrestrict false positive)
    c.out = (fs::path(out) / name).string();
    c.resume = false;
    if (fs::exists(fs::path(c.out) / "command.json") && !base.overwrite) {
      TrainConfig saved = load_command(c.out);
      saved.data = c.data;
      if (command_text(saved) != command_text(c))
        throw InputError("--out " + out + " holds a sweep with other settings (" + c.out +
                         "/command.json): use another --out, or --overwrite to train it again");
      c.resume = true;
    }
    studies.push_back(c);
  }
  std::printf("normlab sweep: batches");
  for (int b : sw.batches) std::printf(" %d", b);
  std::printf("; lr = %g * batch / %d; %d epochs; %zu norm(s) x %d seed(s) each; output %s\n", base.lr, sw.base_batch,
              base.epochs, base.norms.size(), base.seeds, out.c_str());

  std::vector<Row> rows;
  int rc = 0;
  for (const TrainConfig& c : studies) {
    std::printf("\n==== batch %d, lr %g%s\n", c.batch, c.lr, c.resume ? " (continuing)" : "");
    std::fflush(stdout);
    std::vector<RunResult> runs;
    const int r = run_training(c, &runs);
    if (r == 3) rc = 3;
    for (auto& run : runs) rows.push_back({c.batch, c.lr, run});
    // After every batch size: the tables so far (an interrupted sweep leaves them true for what ran).
    write_file_atomic((fs::path(out) / "sweep.csv").string(), sweep_csv(rows));
    write_file_atomic((fs::path(out) / "sweep_summary.csv").string(), summary_csv(rows, base));
  }
  if (gnuplot_available()) plot_sweep(out);
  std::printf("\nsweep: %s/sweep.csv, %s/sweep_summary.csv%s\n", out.c_str(), out.c_str(),
              gnuplot_available() ? ", batch_sweep.png/.svg" : " (no gnuplot: no figure)");
  return rc;
}

}  // namespace normlab::app
