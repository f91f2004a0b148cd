// Crash and resume, for real: a training run is killed with SIGKILL in the middle of an epoch,
// resumed with --resume, and must end with metrics.csv (all columns but seconds), misclassified.csv
// and model.ckpt byte-identical to an uninterrupted run with the same flags; the same for a study
// killed in its second run (the finished first run is kept). Also: training into a finished run's
// folder is refused (exit 2) without --overwrite, and a diverging run (--lr 50) stops with exit 3,
// one stderr line naming the epoch and step, and no results.json. SKIPPED (exit 77) without MNIST.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/run_files.h"

namespace fs = std::filesystem;

namespace {
using normlab::test::run_command;
using normlab::test::slurp;
using normlab::test::strip_last_column;
int run(const std::string& args) {
  const std::string cmd = std::string(NORMLAB_APP) + " " + args + " > /dev/null 2>&1";
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
// Starts mnist_norm, waits until `ready` exists, lets it run `ms` more milliseconds, kills it.
bool run_and_kill(const std::vector<std::string>& args, const fs::path& ready, int ms) {
  std::fflush(stdout);  // or the child would print our buffered lines again
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(NORMLAB_APP)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    execv(NORMLAB_APP, argv.data());
    _exit(127);
  }
  for (int i = 0; i < 6000 && !fs::exists(ready); ++i) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return false;  // finished before the kill: no test
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}
bool same_run(const fs::path& a, const fs::path& b) {
  bool ok = true;
  for (const char* f : {"metrics.csv", "misclassified.csv", "model.ckpt"}) {
    std::string x = slurp(a / f), y = slurp(b / f);
    if (std::string(f) == "metrics.csv") x = strip_last_column(x), y = strip_last_column(y);
    const bool same = !x.empty() && x == y;
    std::printf("  %-18s %s (%zu bytes)\n", f, same ? "identical" : "DIFFERENT", x.size());
    ok = ok && same;
  }
  const bool no_state = !fs::exists(b / "resume.ckpt") && fs::exists(b / "results.json");
  if (!no_state) std::printf("  the resumed run did not finish cleanly (results.json / resume.ckpt)\n");
  return ok && no_state;
}
}  // namespace

int main() {
  const char* dir = normlab::test::mnist_dir();
  if (!dir) return 77;
  const fs::path out = fs::temp_directory_path() / ("normlab_resume_" + std::to_string(getpid()));
  fs::remove_all(out);
  const std::vector<std::string> common{"--train-limit", "3000", "--test-limit", "1000", "--epochs", "3",
                                        "--batch",       "100",  "--threads",    "2",    "--data",   dir};
  auto with = [&](std::vector<std::string> v, const fs::path& o) {
    v.insert(v.end(), common.begin(), common.end());
    v.push_back("--out");
    v.push_back(o.string());
    return v;
  };
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v) s += a + " ";
    return s;
  };
  std::mt19937 rng(std::random_device{}());
  bool ok = true;

  // One run: uninterrupted, then killed at a random moment of epoch 2 and resumed.
  const auto a = with({"--norm", "bn", "--l1", "1e-5"}, out / "a"),
             b = with({"--norm", "bn", "--l1", "1e-5"}, out / "b");
  if (run(joined(a)) != 0) return std::printf("FAILED: the uninterrupted run\n"), 1;
  const int ms = static_cast<int>(rng() % 400);
  const bool killed = run_and_kill(b, out / "b" / "resume.ckpt", ms);
  std::printf("run killed with SIGKILL %d ms after epoch 1's checkpoint: %s\n", ms,
              killed ? "yes" : "no (it ended first)");
  if (run("--resume " + (out / "b").string()) != 0) return std::printf("FAILED: --resume\n"), 1;
  ok = same_run(out / "a", out / "b") && ok;

  // A study (BN, GN): killed while GN trains; BN's finished run is kept, GN continues.
  const auto sa = with({"--norm", "bn,gn"}, out / "sa"), sb = with({"--norm", "bn,gn"}, out / "sb");
  if (run(joined(sa)) != 0) return std::printf("FAILED: the uninterrupted study\n"), 1;
  const int ms2 = static_cast<int>(rng() % 300);
  const bool killed2 = run_and_kill(sb, out / "sb" / "gn-s1" / "resume.ckpt", ms2);
  std::printf("study killed %d ms after GN's first checkpoint: %s\n", ms2, killed2 ? "yes" : "no (it ended first)");
  if (run("--resume " + (out / "sb").string()) != 0) return std::printf("FAILED: --resume of the study\n"), 1;
  for (const char* r : {"bn-s1", "gn-s1"}) {
    std::printf(" %s:\n", r);
    ok = same_run(out / "sa" / r, out / "sb" / r) && ok;
  }

  // A finished folder is not overwritten by accident.
  const int again = run(joined(a));
  std::printf("training into a finished run's folder again: exit %d (want 2)\n", again);
  ok = ok && again == 2;

  // Divergence: exit 3, one line naming epoch and step, no results.json.
  const fs::path d = out / "diverge";
  const std::string cmd = std::string(NORMLAB_APP) + " --lr 50 --train-limit 2000 --test-limit 500 --epochs 2 " +
                          "--threads 2 --data " + dir + " --out " + d.string() + " 2>&1 >/dev/null";
  const auto [code, err] = run_command(cmd);
  std::printf("--lr 50: exit %d, stderr: %s", code, err.c_str());
  ok = ok && code == 3 && err.find("diverged at epoch") != std::string::npos && err.find("step") != std::string::npos &&
       !fs::exists(d / "results.json");

  fs::remove_all(out);
  std::printf("%s\n", ok ? "resume and divergence: all as required" : "FAILED");
  return ok ? 0 : 1;
}
