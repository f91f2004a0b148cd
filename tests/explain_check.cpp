// `mnist_norm explain` on real MNIST activations: its last three lines must be
// "bn max_abs_diff=<x>", "gn ...", "ln ..." with every x <= 1e-5 (hand-worked double values vs the
// framework's float32 layers). Needs $MNIST_DIR; without it: SKIPPED (exit 77), never passed.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/run_files.h"

int main() {
  const char* dir = normlab::test::mnist_dir();
  if (!dir) return 77;
  const std::string cmd = std::string(NORMLAB_APP) + " explain --data " + dir;
  const normlab::test::Ran ran = normlab::test::run_command(cmd);
  std::vector<std::string> lines;
  std::istringstream is(ran.out);
  for (std::string l; std::getline(is, l);) lines.push_back(l + "\n");
  if (ran.code != 0 || lines.size() < 3) {
    std::printf("FAILED: explain did not run\n");
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
  return bad ? 1 : 0;
}
