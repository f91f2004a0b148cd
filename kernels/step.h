// step: where the training is, kept in memory on the training device, for the ops whose arguments
// change from one step to the next. A CUDA Graph (core/device.h) replays the kernel arguments it
// captured, so a replayed step cannot be told its learning rate, dropout seed or batch as
// arguments: those ops read the position from this counter when they run, on either backend.
//   step = i32[2] {s, b}: s the run's step (0-based, across epochs), b the batch within the epoch
//   step_advance:  s += 1, b += 1          (the last op of a training step)
// The readers, each with the counter as a pointer (null: the op's plain form — lr[0], rows and
// angles from 0, the dropout seed as given):
//   sgd_step        lr = lr[s]                                  (kernels/sgd.h)
//   dropout ops     seed = splitmix64((base + s) ^ layer * φ)   (kernels/dropout.h, DropoutSeed)
//   gather_rows     rows idx[b * batch + i]                     (kernels/gather.h)
//   rotate_forward  angles angle[b * batch + n]                 (kernels/rotate.h)
// Shapes: step [2] (i32). Outputs: step UPDATED in place. The host sets it (to_device) between
// steps only: at a run's start and at each epoch's (b = 0).
#pragma once
#include <cstdint>

#include "core/host_device.h"
#include "core/tensor.h"
#include "kernels/backends.h"

namespace normlab {
// What the readers read: the run's step s, and the first row of batch b of `batch` rows (0 and 0
// without a counter). Inside a kernel, `step` is device memory.
NL_HOST_DEVICE inline int64_t step_of(const int32_t* step) { return step ? step[0] : 0; }
NL_HOST_DEVICE inline int64_t step_rows(const int32_t* step, int64_t batch) {
  return step ? int64_t(step[1]) * batch : 0;
}
}  // namespace normlab

// Both backends, the same signatures (kernels/backends.h).
// clang-format off
NL_BACKENDS(
void step_advance(int32_t* step);
)
// clang-format on

// Tensor level, what layers call (kernels/dispatch_train.cpp).
namespace normlab::ops {
void step_advance(Tensor& step);  // step: i32 [2]
// The counter holding {s, b}, on `device` (a CPU tensor for the CPU backend).
Tensor make_step(int64_t s, int64_t b, Device device);
}  // namespace normlab::ops
