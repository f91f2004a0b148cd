// `mnist_norm sweep` end to end on a sliver of MNIST: two batch sizes x BN and GN, one epoch each,
// on a smaller --arch. Checks the learning-rate rule (lr * B / 128) in sweep.csv, one summary row per
// (batch, norm), the figure, that running the same command again keeps every finished run and
// writes the same tables, and that a different command into the same folder is refused (exit 2).
// Needs $MNIST_DIR; without it the test reports SKIPPED (exit 77), never passed.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/run_files.h"

namespace fs = std::filesystem;
using namespace normlab::test;

namespace {
int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  failures += ok ? 0 : 1;
}
Ran run(const std::string& args) {
  const std::string cmd = std::string(NORMLAB_APP) + " " + args + " 2>&1";
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  return run_command(cmd);
}
std::vector<std::string> rows(const std::string& csv) {
  std::vector<std::string> r;
  std::stringstream ss(csv);
  std::string line;
  std::getline(ss, line);  // header
  while (std::getline(ss, line)) r.push_back(line);
  return r;
}
int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

int main() {
  const char* data = mnist_dir();
  if (!data) return 77;
  const fs::path out = fs::temp_directory_path() / ("normlab_sweep_" + std::to_string(::getpid()));
  fs::remove_all(out);
  const std::string args = "sweep --batches 16,4 --norm bn,gn --l1 1e-5 --epochs 1 --train-limit 1000 --test-limit 500 "
                           "--arch 8,16,t8,m,16,16 --threads 2 --data " + std::string(data) + " --out " + out.string();
  Ran r = run(args);
  std::fputs(r.out.c_str(), stdout);
  check(r.code == 0, "the sweep exits 0");
  const std::string csv = slurp(out / "sweep.csv"), summary = slurp(out / "sweep_summary.csv");
  const auto runs = rows(csv), sums = rows(summary);
  check(runs.size() == 4, "sweep.csv: one row per batch and norm (4)");
  check(sums.size() == 4, "sweep_summary.csv: one row per batch and norm (4)");
  check(runs.size() == 4 && runs[0].starts_with("4,0.0046875,bn,1,ok,1,") && runs[2].starts_with("16,0.01875,bn,1,ok,1,"),
        "batches in ascending order, lr = 0.15 * B / 128 (0.0046875 at 4, 0.01875 at 16)");
  check(sums.size() == 4 && sums[0].starts_with("4,bn,BN + L1,1,0,") && sums[1].starts_with("4,gn,GN,1,0,"),
        "the summary names BN + L1 (L1 goes to BN only) and GN");
  const auto conf = nlohmann::json::parse(slurp(out / "b4" / "gn-s1" / "config.json"));
  check(conf.at("batch") == 4 && conf.at("arch") == "8,16,t8,m,16,16" && conf.at("parameters") == 5080,
        "each run's config.json: its batch, the --arch and its parameter count (5,080)");
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0)
    check(slurp(out / "batch_sweep.png").substr(1, 3) == "PNG" && fs::exists(out / "batch_sweep.svg"),
          "batch_sweep.png and .svg written");
  r = run(args);
  check(r.code == 0 && count(r.out, "finished before, kept as it is") == 4,
        "the same command again keeps all 4 finished runs");
  // (all but the last column: the epoch seconds come back from metrics.csv rounded to 1 ms)
  check(strip_last_column(slurp(out / "sweep.csv")) == strip_last_column(csv) &&
            slurp(out / "sweep_summary.csv") == summary,
        "and writes the same sweep.csv (but the seconds) and sweep_summary.csv");
  r = run("sweep --batches 16,4 --norm bn,gn --epochs 2 --train-limit 1000 --data " + std::string(data) +
          " --out " + out.string());
  check(r.code == 2 && r.out.find("holds a sweep with other settings") != std::string::npos,
        "another command into the same folder: exit 2, one line");
  if (!failures) fs::remove_all(out);
  std::printf("%s\n", failures ? "FAILED" : "all sweep checks passed");
  return failures ? 1 : 0;
}
