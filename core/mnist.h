// MNIST: loading the four IDX files and normalising. (Mini-batches and augmentation: layers/batch_loader.h.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace normlab {

constexpr double kMnistMean = 0.1307;  // of the 60k training pixels scaled to [0, 1]
constexpr double kMnistStd = 0.3081;

struct MnistSplit {
  Tensor images;  // f32 [N, 1, 28, 28], (pixel/255 - mean) / std
  Tensor labels;  // i32 [N], 0..9
  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

// --data DIR, else $MNIST_DIR, else ./data/mnist.
std::string resolve_data_dir(const std::string& flag);

// Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; `limit` > 0 keeps the first `limit`
// examples. Throws InputError for a missing folder/file, a corrupt file or mismatched counts.
MnistSplit load_mnist(const std::string& dir, bool train, int64_t limit = 0);

// The original 0..255 pixel of a normalised value (for pictures of images).
inline int mnist_pixel(float v) {
  const double p = (v * kMnistStd + kMnistMean) * 255.0;
  return p < 0 ? 0 : p > 255 ? 255 : static_cast<int>(p + 0.5);
}

}  // namespace normlab
