// MNIST: loading the four IDX files, normalising, shuffled mini-batches and augmentation.
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

// Shuffled mini-batches of a split. The order of epoch e is a function of (seed, e) only, so every
// model trained with the same seed sees the same batches. Augmentation, when on, rotates each
// training image by a uniform random angle in [-max_deg, max_deg] (kernels/rotate.h).
//
// On Device::cuda the split is uploaded once, when the loader is made; start_epoch() uploads the
// epoch's order and angles (two copies per epoch), and get() gathers and rotates each batch on the
// GPU (kernels/gather.h, kernels/rotate.h) without waiting for it. The order and the angles are the
// same numbers on both devices: they are drawn on the host, in batch order.
class BatchLoader {
 public:
  BatchLoader(const MnistSplit& split, int batch, bool shuffle, uint64_t seed, double max_deg,
              Device device = Device::cpu);
  void start_epoch(int epoch);
  int num_batches() const;
  Device device() const { return device_; }
  // Fills images [B,1,28,28] and labels [B] with batch b of the current epoch (the last may be
  // short), on the loader's device. The tensors are reused when their size fits.
  void get(int b, Tensor& images, Tensor& labels);

 private:
  int64_t size_;
  int batch_;
  bool shuffle_;
  uint64_t seed_;
  double max_deg_;
  Device device_;
  Tensor images_, labels_;  // the split, on device_
  Tensor order_;            // i32 [size]: the epoch's order, on device_
  Tensor angles_;           // f32 [size]: the epoch's rotation angles in radians, on device_
};

}  // namespace normlab
