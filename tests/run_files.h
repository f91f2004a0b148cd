// Small helpers shared by the test programs that run mnist_norm and compare what it wrote
// (train_cuda_smoke, resume_check), and the GPU check shared with the Catch2 GPU tests.
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace normlab::test {

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
