// mnist_norm on bad input: one line on stderr naming the problem and the fix, exit code 2, and no
// output folder left behind.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/device.h"
#include "tests/run_files.h"

namespace fs = std::filesystem;

namespace {
struct Result {
  int code;
  std::string err;
};

// Runs mnist_norm with `args` (and environment assignments `env`, "VAR=value ..."); captures stderr only.
Result run(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + (env.empty() ? "" : " ") + std::string(NORMLAB_APP) + " " + args + " 2>&1 >/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

const fs::path kOut = fs::temp_directory_path() / ("normlab_cli_" + std::to_string(::getpid()));

void expect_error(const std::string& args, const std::string& needle, const std::string& env = "") {
  INFO(env << " mnist_norm " << args);
  fs::remove_all(kOut);
  const Result r = run(args + " --out " + kOut.string(), env);
  INFO("stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK_FALSE(fs::exists(kOut));
}
}  // namespace

TEST_CASE("CLI: bad values exit 2 with one line naming the problem", "[cli]") {
  expect_error("--norm xx", "unknown norm 'xx'");
  expect_error("--norm bn,bn", "listed twice");
  expect_error("--norm gn --groups 3", "--groups 3 does not divide");
  expect_error("--lr abc", "--lr");
  expect_error("--lr -1", "--lr must be > 0");
  expect_error("--batch 0", "--batch must be >= 1");
  expect_error("--epochs 0", "--epochs must be >= 1");
  expect_error("--threads -1", "--threads must be >= 0");
  expect_error("--dropout 1.5", "--dropout");
  expect_error("--schedule cosine", "--schedule");
  expect_error("--warmup 1", "--warmup must be in (0, 1)");
  expect_error("--warmup 0", "--warmup must be in (0, 1)");
  if (!normlab::cuda_available()) {  // with a GPU, --device cuda trains (tests/train_cuda_smoke checks that)
    expect_error("--device cuda", "--device cuda: no usable GPU");
    WARN("SKIPPED: a malformed NORMLAB_CUDA_VERSIONS with --device cuda (no usable GPU here; the emulation build "
         "checks it)");
  } else {  // read before the --out folder is begun (kernels/versions.h)
    for (const std::string bad : {"conv2d=9", "norm=2"})
      expect_error("--device cuda", "NORMLAB_CUDA_VERSIONS: '" + bad + "' is not op=version",
                   "NORMLAB_CUDA_VERSIONS=" + bad);
  }
  expect_error("--device tpu", "--device must be cpu or cuda");
  expect_error("--cuda-branches true", "--cuda-branches puts work on a second CUDA stream: use it with --device cuda");
  expect_error("--no-such-flag", "no-such-flag");
  expect_error("--arch 8,x", "--arch: architecture item 'x' in '8,x' is not N, Np, tN or m");
  expect_error("--arch t8,m", "--arch: architecture 't8,m' has no 3x3 block");
  expect_error("--arch 8,m,m,m,m,m", "max pool on a 1x1 map");
  expect_error("sweep --batches 0,4", "--batches: '0' is not a batch size");
  expect_error("sweep --batches 4,4", "--batches: 4 is listed twice");
  expect_error("sweep --base-batch 0", "--base-batch must be >= 1");
}

TEST_CASE("CLI: missing or corrupt data exit 2 and write nothing", "[cli]") {
  expect_error("--data /nonexistent/mnist", "does not exist");
  const fs::path bad = fs::temp_directory_path() / ("normlab_cli_data_" + std::to_string(::getpid()));
  fs::create_directories(bad);
  expect_error("--data " + bad.string(), "train-images-idx3-ubyte(.gz) not found");
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"})
    std::ofstream(bad / f) << "this is not an IDX file";
  expect_error("--data " + bad.string(), "bad magic");
  fs::remove_all(bad);
}

TEST_CASE("CLI: plot of a missing folder, help", "[cli]") {
  const Result r = run("plot /nonexistent/run");
  CHECK(r.code == 2);
  CHECK(lines(r.err) == 1);
  const auto [code, out] = normlab::test::run_command(std::string(NORMLAB_APP) + " --help");
  CHECK(code == 0);
  CHECK(out.find("--norm") != std::string::npos);
  CHECK(out.find("explain") != std::string::npos);
}

TEST_CASE("plot: draws every figure from saved CSV/JSON, and the same bytes again", "[cli][plot]") {
  REQUIRE(std::system("command -v gnuplot >/dev/null 2>&1") == 0);  // scripts/install-deps.sh installs it
  const fs::path dir = fs::temp_directory_path() / ("normlab_plot_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"norm": "gn", "l1": 0})";
  std::ofstream(dir / "metrics.csv") << "epoch,train_loss,train_acc,test_loss,test_acc,seconds\n"
                                        "1,0.9,70.0,0.2,94.0,12.0\n2,0.1,97.0,0.08,97.6,12.1\n3,0.07,98.2,0.05,98.6,12.2\n";
  {
    std::ofstream m(dir / "misclassified.csv");
    m << "index,true,pred,confidence,pixels\n";
    for (int r = 0; r < 10; ++r) {
      m << r << ",4,9,0.9" << r << ",";
      for (int k = 0; k < 784; ++k) m << (k ? " " : "") << (k * 7 + r) % 256;
      m << "\n";
    }
  }
  const std::vector<std::string> files = {"test_loss.png", "test_accuracy.png", "train_loss.png",
                                          "train_accuracy.png", "test_loss.svg", "misclassified_gn.png"};
  auto bytes = [&](const std::string& f) {
    std::ifstream is(dir / f, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  };
  REQUIRE(run("plot " + dir.string()).code == 0);
  std::vector<std::string> first;
  for (const auto& f : files) {
    INFO(f);
    first.push_back(bytes(f));
    CHECK(first.back().size() > 1000);
    if (f.ends_with(".png")) CHECK(first.back().substr(1, 3) == "PNG");
  }
  REQUIRE(run("plot " + dir.string()).code == 0);
  for (std::size_t i = 0; i < files.size(); ++i) {
    INFO(files[i]);
    if (files[i].ends_with(".png")) CHECK(bytes(files[i]) == first[i]);
  }
  CHECK_FALSE(fs::exists(dir / "test_loss.png.tmp"));
  fs::remove_all(dir);
}
