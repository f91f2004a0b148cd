#include "core/mnist.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/idx.h"

namespace normlab {
namespace fs = std::filesystem;

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("MNIST_DIR"); env && *env) return env;
  return "data/mnist";
}

namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    const fs::path p = fs::path(dir) / (stem + ext);
    if (fs::is_regular_file(p)) return p.string();
  }
  throw InputError(dir + ": " + stem + "(.gz) not found; point --data (or MNIST_DIR) at the MNIST folder, or fetch "
                   "the files with scripts/get-mnist.sh " + dir);
}
}  // namespace

MnistSplit load_mnist(const std::string& dir, bool train, int64_t limit) {
  if (!fs::is_directory(dir))
    throw InputError("data folder '" + dir + "' does not exist; pass --data DIR (or set MNIST_DIR), or fetch MNIST "
                     "with scripts/get-mnist.sh " + dir);
  const std::string prefix = train ? "train" : "t10k";
  const std::string ipath = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lpath = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray img = read_idx(ipath, 3);
  IdxArray lab = read_idx(lpath, 1);
  if (img.dims[1] != 28 || img.dims[2] != 28)
    throw InputError(ipath + ": images are " + std::to_string(img.dims[1]) + "x" + std::to_string(img.dims[2]) +
                     ", expected 28x28; re-download it with scripts/get-mnist.sh");
  if (img.dims[0] != lab.dims[0])
    throw InputError(ipath + " has " + std::to_string(img.dims[0]) + " images but " + lpath + " has " +
                     std::to_string(lab.dims[0]) + " labels; re-download both with scripts/get-mnist.sh");
  int64_t n = img.dims[0];
  if (limit > 0) n = std::min(n, limit);
  MnistSplit s;
  s.images = Tensor::empty({n, 1, 28, 28});
  s.labels = Tensor::empty({n}, DType::i32);
  float* im = s.images.data<float>();
  for (int64_t i = 0; i < n * 784; ++i)
    im[i] = static_cast<float>((img.data[static_cast<std::size_t>(i)] / 255.0 - kMnistMean) / kMnistStd);
  int32_t* lb = s.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int v = lab.data[static_cast<std::size_t>(i)];
    if (v > 9) throw InputError(lpath + ": label " + std::to_string(v) + " at index " + std::to_string(i) +
                                " is not a digit; re-download it with scripts/get-mnist.sh");
    lb[i] = v;
  }
  return s;
}

}  // namespace normlab
