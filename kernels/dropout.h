// dropout (inverted): keep_i = [hash_u32(seed, i) >= p * 2^32], scale = 1 / (1 - p)
//   forward   y_i  = x_i  * keep_i * scale
//   backward  dx_i = dy_i * keep_i * scale
// The mask is not stored: it is a counter-based hash of (seed, element index) (core/rng.h), so the
// backward pass recomputes it, and it does not depend on the thread count. A fresh seed per step
// and layer: seed = splitmix64((base + s) ^ layer * 0x9E3779B97F4A7C15) with s the run's step read
// from the step counter (kernels/step.h) when the kernel runs, so that a CUDA Graph replays each
// step with its own masks; without a counter the seed is `base` itself (DropoutSeed below).
// Shapes: y, x, dx, dy [n]. Preconditions: 0 <= p < 1. Outputs: y, dx ASSIGNED.
//
// relu_dropout: the dropout of a ReLU's output in one pass (the model's ReLU -> Dropout pair:
// one launch instead of two each way on CUDA, and the ReLU's output is never written)
//   forward   y_i  = max(x_i, 0) * keep_i * scale
//   backward  dx_i = dy_i * scale * [y_i > 0]
// y_i > 0 exactly when element i was kept and x_i > 0 (scale >= 1 cannot round a positive value
// to 0), so the backward reads y and recomputes no mask. The same bits as relu_forward then
// dropout_forward, and dropout_backward then relu_backward (relu.h): each element goes through
// the same multiply by scale or nothing, and a zeroed one is +0 in both.
#pragma once
#include <cstdint>
#include <utility>

#include "core/host_device.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/backends.h"

namespace normlab {
// The mask seed of dropout layer `layer` in the step whose seed is step_seed.
NL_HOST_DEVICE inline uint64_t dropout_layer_seed(uint64_t step_seed, uint64_t layer) {
  uint64_t mix = step_seed ^ (layer * 0x9E3779B97F4A7C15ull);
  return splitmix64(mix);
}
// What the kernels take: base itself, or with a step counter (device memory inside a CUDA kernel)
// the seed of `layer` in step base + s.
struct DropoutSeed {
  uint64_t base = 0;
  uint64_t layer = 0;
  const int32_t* step = nullptr;
  NL_HOST_DEVICE uint64_t value() const {
    return step ? dropout_layer_seed(base + static_cast<uint64_t>(step[0]), layer) : base;
  }
};
}  // namespace normlab

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
template <typename T> void dropout_forward(T* y, const T* x, int64_t n, T p, DropoutSeed seed);
template <typename T> void dropout_backward(T* dx, const T* dy, int64_t n, T p, DropoutSeed seed);
template <typename T> void relu_dropout_forward(T* y, const T* x, int64_t n, T p, DropoutSeed seed);
template <typename T> void relu_dropout_backward(T* dx, const T* dy, const T* y, int64_t n, T p);
)
// clang-format on

// Tensor level, what layers call: the dispatcher (kernels/dispatch*.cpp) checks shapes, dtypes and
// devices, then runs the kernel above of the tensors' device (CUDA: asynchronously).
namespace normlab::ops {
// A fixed seed (implicitly, from an integer), or a layer's seed in the step read from `step`
// (i32 [2], on the data's device).
struct MaskSeed {
  MaskSeed(uint64_t seed) : base(seed) {}  // NOLINT: a plain seed converts
  MaskSeed(uint64_t step_seed_base, uint64_t layer_id, Tensor counter)
      : base(step_seed_base), layer(layer_id), step(std::move(counter)) {}
  uint64_t base;
  uint64_t layer = 0;
  Tensor step;
};
void dropout_forward(Tensor& y, const Tensor& x, double p, const MaskSeed& seed);
void dropout_backward(Tensor& dx, const Tensor& dy, double p, const MaskSeed& seed);
void relu_dropout_forward(Tensor& y, const Tensor& x, double p, const MaskSeed& seed);
void relu_dropout_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double p);
}  // namespace normlab::ops
