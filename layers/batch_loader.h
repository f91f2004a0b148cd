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
// epoch's order and angles (two copies per epoch, into the same memory each time), and get() gathers and rotates each batch on the
// GPU (kernels/gather.h, kernels/rotate.h) without waiting for it. The order and the angles are the
// same numbers on both devices: they are drawn on the host, in batch order.
class BatchLoader {
 public:
  BatchLoader(const MnistSplit& split, int batch, bool shuffle, uint64_t seed, double max_deg,
              Device device = Device::cpu);
  // The epoch's order and angles; with first_step >= 0, the step counter set to {first_step, 0}.
  void start_epoch(int epoch, int64_t first_step = -1);
  int num_batches() const;
  Device device() const { return device_; }
  int batch_size(int b) const;  // images in batch b (the last may be short)
  // Fills images [B,1,28,28] and labels [B] with batch b of the current epoch (the last may be
  // short), on the loader's device. The tensors are reused when their size fits. With a step
  // counter (kernels/step.h: i32 [2] on the loader's device, holding b), the kernels read the
  // batch's place in the epoch from it, so that a captured step (a CUDA Graph) replayed with the
  // counter advanced gathers the next batch; b then only gives the batch's size.
  void get(int b, Tensor& images, Tensor& labels, const Tensor& step = Tensor());
  // The training's step counter {s, b} on the loader's device (kernels/step.h), made by the first
  // start_epoch with a first step; advance() is the training step's last op (s and b + 1).
  const Tensor& counter() const { return counter_; }
  void advance();

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
  Tensor counter_;          // i32 [2]: the step counter, on device_ (undefined until asked for)
};

}  // namespace normlab
