// activation: the ReLU (and dropout) that the network puts right after a normalization, applied by
// the normalization's own op — batchnorm_act_*, groupnorm_act_*, layernorm_act_* in the norms'
// contracts — so that the model's norm -> ReLU -> dropout is one op each way.
//
// With z = the normalization's output (gamma * xhat + beta) at flat index i of the tensor:
//   forward   y_i  = act(z_i)      = max(z_i, 0) * keep_i * scale       (relu, dropout p > 0)
//                                  = max(z_i, 0)                        (relu, p = 0)
//                                  = z_i                                (no activation)
//   backward  dz_i = dy_i * act'(z_i) = dy_i * scale * [y_i > 0]        (relu, p > 0)
//                                  = dy_i * [y_i > 0]                   (relu, p = 0)
// keep_i, scale and the seed: kernels/dropout.h (the same hash of (seed, i), so the same elements
// are dropped as by relu_dropout_forward on the norm's output); the subgradient at 0 is taken as 0.
// y_i > 0 exactly when z_i > 0 and element i was kept (scale >= 1 cannot round a positive value to
// 0), so a backend may read the mask from y, or recompute it from z — recomputed from x, the saved
// statistics, gamma and beta by the very expression its forward used — and the seed, and read no y
// (the fused CUDA kernels, version 4 of each norm).
// The result is the bits of the norm's op, then relu_forward / relu_dropout_forward, and
// relu_backward / relu_dropout_backward, then the norm's backward (kernels/relu.h, dropout.h).
// Preconditions: 0 <= p < 1; p > 0 only with relu.
#pragma once
#include "kernels/dropout.h"

namespace normlab {
template <typename T>
struct Activation {
  bool relu = false;
  T p = T(0);  // dropout probability after the ReLU; 0: none
  DropoutSeed seed{};
};
}  // namespace normlab

namespace normlab::ops {
// Tensor level: the same, with the mask seed as the dropout ops take it (a fixed seed, or a layer's
// seed in the step read from a counter).
struct Act {
  bool relu = false;
  double p = 0;
  MaskSeed seed{0};
};
}  // namespace normlab::ops
