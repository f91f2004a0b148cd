// Small helpers shared by the test programs that run mnist_norm and compare what it wrote
// (train_smoke, resume_check, sweep_check, explain_check, train_cuda_smoke), and the GPU check
// shared with the Catch2 GPU tests.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace normlab::test {

// $MNIST_DIR when it holds MNIST; otherwise prints the SKIPPED line and returns nullptr, and the
// program exits 77 (CTest's SKIP_RETURN_CODE): a test without its data is skipped, never passed.
inline const char* mnist_dir() {
  const char* dir = std::getenv("MNIST_DIR");
  if (dir && std::filesystem::exists(std::filesystem::path(dir) / "t10k-labels-idx1-ubyte.gz")) return dir;
  std::printf("SKIPPED: MNIST_DIR is not set or has no MNIST files (set MNIST_DIR=../shared/data/mnist)\n");
  return nullptr;
}

// A shell command's exit code (-1 if it did not exit) and what it printed on stdout (add 2>&1 to
// the command for stderr too).
struct Ran {
  int code;
  std::string out;
};
inline Ran run_command(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// A file's bytes ("" if it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream is(p, std::ios::binary);
  std::ostringstream os;
  os << is.rdbuf();
  return os.str();
}

// Every line without its last column: metrics.csv without the seconds, which differ between runs.
inline std::string strip_last_column(const std::string& csv) {
  std::istringstream is(csv);
  std::string line, out;
  while (std::getline(is, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// An NVIDIA GPU is installed here (its driver's device node or /proc entry exists): where CUDA
// cannot use it, the GPU tests fail rather than skip.
inline bool gpu_present() {
  std::error_code ec;
  return std::filesystem::exists("/dev/nvidia0", ec) || std::filesystem::exists("/proc/driver/nvidia/version", ec);
}

}  // namespace normlab::test
