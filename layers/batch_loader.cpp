#include "layers/batch_loader.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/gather.h"
#include "kernels/rotate.h"
#include "kernels/step.h"

namespace normlab {

BatchLoader::BatchLoader(const MnistSplit& split, int batch, bool shuffle, uint64_t seed, double max_deg,
                         Device device)
    : size_(split.size()), batch_(batch), shuffle_(shuffle), seed_(seed), max_deg_(max_deg), device_(device),
      images_(split.images.to_device(device)), labels_(split.labels.to_device(device)) {
  NL_CHECK(batch >= 1, "BatchLoader: batch size must be at least 1, got ", batch);
  NL_CHECK(size_ < (int64_t{1} << 31), "BatchLoader: ", size_, " examples do not fit int32 indices");
}

void BatchLoader::start_epoch(int epoch, int64_t first_step) {
  if (first_step >= 0) {  // into the same memory every epoch, as the order and the angles
    const Tensor c = ops::make_step(first_step, 0, Device::cpu);
    if (counter_.defined()) counter_.copy_from(c); else counter_ = c.to_device(device_);
  }
  Tensor idx = Tensor::empty({size_}, DType::i32);
  int32_t* order = idx.data<int32_t>();
  std::iota(order, order + size_, 0);
  uint64_t mix = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1;
  Rng rng(splitmix64(mix));
  if (shuffle_)
    for (std::size_t i = static_cast<std::size_t>(size_); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  // Into the same device memory every epoch: a captured step (CUDA Graph) keeps reading there.
  if (order_.defined()) order_.copy_from(idx); else order_ = idx.to_device(device_);
  if (max_deg_ > 0) {
    // One angle per image, drawn in batch order: the same stream the batches consume in turn.
    Rng aug(rng.next_u64());
    Tensor angle = Tensor::empty({size_});
    for (int64_t i = 0; i < size_; ++i)
      angle.data<float>()[i] = static_cast<float>(aug.uniform(-max_deg_, max_deg_) * M_PI / 180.0);
    if (angles_.defined()) angles_.copy_from(angle); else angles_ = angle.to_device(device_);
  }
}

void BatchLoader::advance() {
  NL_CHECK(counter_.defined(), "BatchLoader: advance() without a step counter (start_epoch with a first step)");
  ops::step_advance(counter_);
}

int BatchLoader::num_batches() const { return static_cast<int>((size_ + batch_ - 1) / batch_); }

int BatchLoader::batch_size(int b) const {
  NL_CHECK(b >= 0 && b < num_batches(), "BatchLoader: batch ", b, " outside [0, ", num_batches(), ")");
  return static_cast<int>(std::min<int64_t>(batch_, size_ - static_cast<int64_t>(b) * batch_));
}

void BatchLoader::get(int b, Tensor& images, Tensor& labels, const Tensor& step) {
  NL_CHECK(order_.defined(), "BatchLoader: get() before start_epoch()");
  const int64_t begin = static_cast<int64_t>(b) * batch_;
  const int64_t n = batch_size(b);
  if (!images.defined() || images.dim(0) != n || images.device() != device_) {
    images = Tensor::empty({n, 1, 28, 28}, DType::f32, device_);
    labels = Tensor::empty({n}, DType::i32, device_);
  }
  // Without a counter the batch's rows are a view; with one, the whole epoch and the counter.
  const bool told = !step.defined();
  const Tensor idx = told ? order_.rows(begin, n) : order_;
  if (max_deg_ > 0) {
    Tensor plain = Tensor::empty_like(images);
    ops::gather_rows(plain, labels, images_, labels_, idx, step, batch_);
    ops::rotate_forward(images, plain, told ? angles_.rows(begin, n) : angles_, -kMnistMean / kMnistStd, step, batch_);
  } else {
    ops::gather_rows(images, labels, images_, labels_, idx, step, batch_);
  }
}

}  // namespace normlab
