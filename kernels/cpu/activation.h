// The CPU side of a normalization with an activation (kernels/activation.h): the norm's own kernel,
// then the activation in place on its output; backward, the activation's gradient read from y into
// a scratch buffer, then the norm's backward on it. A plain composition of the ops the separate
// layers run, so the same bits as those layers.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/relu.h"

namespace normlab::cpu {

// y = act(y), in place.
template <typename T>
void activation_forward_inplace(T* y, int64_t n, const Activation<T>& a) {
  if (!a.relu) return;
  if (a.p > T(0))
    relu_dropout_forward(y, y, n, a.p, a.seed);
  else
    relu_forward(y, y, n);
}

// dz = dy * act'(z), the mask read from y; returns dz (dy itself without an activation). dz lives in
// a buffer per thread and element type, grown as needed and kept: with a fresh activation-sized
// block per call (2.7 MB for the model's first layer at batch 128), paged in anew each time, a
// 1-epoch BN training on 12,800 images took 3.9 s instead of 2.7 s in two runs of three. Valid
// until the next call on this thread.
template <typename T>
const T* activation_backward(const T* dy, const T* y, int64_t n, const Activation<T>& a) {
  if (!a.relu) return dy;
  thread_local std::vector<T> scratch;
  if (scratch.size() < static_cast<std::size_t>(n)) scratch.resize(static_cast<std::size_t>(n));
  if (a.p > T(0))
    relu_dropout_backward(scratch.data(), dy, y, n, a.p);
  else
    relu_backward(scratch.data(), dy, y, n);
  return scratch.data();
}

}  // namespace normlab::cpu
