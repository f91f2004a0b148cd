// Shuffled mini-batches of an MNIST split, with the rotation augmentation, on the training device.
// In layers/ (not core/) because it runs ops through the dispatcher (gather, rotate).
#pragma once
#include <cstdint>

#include "core/mnist.h"
#include "core/tensor.h"

namespace normlab {

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
