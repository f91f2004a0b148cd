// A short real training run on MNIST: the first 10,000 training images, one epoch at batch 32
// (313 steps), must exceed 95% test accuracy on the full 10,000-image test set. Needs $MNIST_DIR; without it the test
// reports SKIPPED (exit code 77, CTest's SKIP_RETURN_CODE), never passed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/run_files.h"

namespace fs = std::filesystem;

int main() {
  const char* dir = normlab::test::mnist_dir();
  if (!dir) return 77;
  const fs::path out = fs::temp_directory_path() / ("normlab_smoke_" + std::to_string(::getpid()));
  fs::remove_all(out);
  // PATH without gnuplot: the run must still finish, and say how to plot later.
  const std::string cmd = "env PATH=/nonexistent " + std::string(NORMLAB_APP) +
                          " --norm bn --train-limit 10000 --epochs 1 --batch 32 --data " + dir + " --out " +
                          out.string();
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 1;
  std::string log;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) {
    log += buf;
    std::fputs(buf, stdout);
  }
  const int rc = pclose(p);
  if (rc != 0) {
    std::printf("FAILED: mnist_norm exited with status %d\n", rc);
    return 1;
  }
  if (log.find("gnuplot not found") == std::string::npos || log.find("mnist_norm plot " + out.string()) == std::string::npos) {
    std::printf("FAILED: without gnuplot the run must say how to plot later\n");
    return 1;
  }
  std::ifstream is(out / "results.json");
  const auto j = nlohmann::json::parse(is);
  const double acc = j.at("final_test_acc");
  fs::remove_all(out);
  std::printf("test accuracy after 1 epoch on 10,000 images: %.2f%% (must exceed 95%%)\n", acc);
  return acc > 95.0 ? 0 : 1;
}
