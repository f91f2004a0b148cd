// `mnist_norm explain` on real MNIST activations: its last three lines must be
// "bn max_abs_diff=<x>", "gn ...", "ln ..." with every x <= 1e-5 (hand-worked double values vs the
// framework's float32 layers), once on a fresh network and once on the checkpoint of a short run
// trained with the default recipe (so the network explain rebuilds from the run's config.json —
// its arch and its Dropout layers — must load that checkpoint). Needs $MNIST_DIR; without it:
// SKIPPED (exit 77), never passed.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tests/run_files.h"

namespace fs = std::filesystem;

// Runs `mnist_norm explain ...`; returns the number of failures.
static int check_explain(const std::string& what, const std::string& args) {
  const normlab::test::Ran ran = normlab::test::run_command(std::string(NORMLAB_APP) + " explain " + args);
  std::vector<std::string> lines;
  std::istringstream is(ran.out);
  for (std::string l; std::getline(is, l);) lines.push_back(l + "\n");
  std::printf("-- explain, %s\n", what.c_str());
  if (ran.code != 0 || lines.size() < 3) {
    std::printf("FAILED: explain did not run (exit %d): %s\n", ran.code, ran.out.c_str());
    return 1;
  }
  int bad = 0;
  const char* names[3] = {"bn", "gn", "ln"};
  for (int k = 0; k < 3; ++k) {
    const std::string& l = lines[lines.size() - 3 + static_cast<std::size_t>(k)];
    const std::string key = std::string(names[k]) + " max_abs_diff=";
    double v = 1e9;
    if (l.rfind(key, 0) == 0) v = std::stod(l.substr(key.size()));
    std::printf("%s", l.c_str());
    if (!(v <= 1e-5)) {
      std::printf("FAILED: %s max_abs_diff must be <= 1e-5\n", names[k]);
      ++bad;
    }
  }
  return bad;
}

int main() {
  const char* dir = normlab::test::mnist_dir();
  if (!dir) return 77;
  int bad = check_explain("fresh network", std::string("--data ") + dir);
  const fs::path run = fs::temp_directory_path() / ("normlab_explain_" + std::to_string(::getpid()));
  const normlab::test::Ran trained = normlab::test::run_command(
      std::string(NORMLAB_APP) + " --norm bn --l1 1e-5 --train-limit 512 --test-limit 200 --epochs 1 --batch 64 "
      "--threads 2 --data " + dir + " --out " + run.string() + " --overwrite");
  if (trained.code != 0) {
    std::printf("FAILED: the short training run exited %d\n", trained.code);
    ++bad;
  } else {
    bad += check_explain("checkpoint of a default-recipe run",
                         std::string("--data ") + dir + " --checkpoint " + (run / "model.ckpt").string());
  }
  fs::remove_all(run);
  return bad ? 1 : 0;
}
