// Parameter-free layers: ReLU, 2x2 max pool, dropout, ReLU + dropout fused, global average pool,
// flatten.
#pragma once
#include "kernels/dropout.h"
#include "layers/module.h"

namespace normlab {

// The mask seed of dropout layer `id` in the step of ctx (Dropout, ReLUDropout and a norm layer's
// dropout alike): the same number whether the step is told (ctx.seed) or read from the counter
// (ctx.seed + s).
ops::MaskSeed dropout_mask_seed(const Context& ctx, uint64_t id);

class ReLU : public Module {
 public:
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override { return "ReLU"; }
};

class MaxPool2x2 : public Module {
 public:
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override { return "MaxPool2x2"; }
};

class Dropout : public Module {
 public:
  // id: distinguishes this layer's masks from other dropout layers' in the same step.
  Dropout(double p, uint64_t id) : p_(p), id_(id) {}
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;

 private:
  double p_;
  uint64_t id_;
};

// ReLU then dropout in one op each way (kernels/dropout.h relu_dropout): the same bits as ReLU
// followed by Dropout(p, id). It counts as those two layers (layer_count() = 2), so the layers
// after it keep their numbers, and checkpoints their buffer names.
class ReLUDropout : public Module {
 public:
  ReLUDropout(double p, uint64_t id) : p_(p), id_(id) {}
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;
  int layer_count() const override { return 2; }

 private:
  double p_;
  uint64_t id_;
};

class GlobalAvgPool : public Module {
 public:
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override { return "GlobalAvgPool"; }
};

// [N, C, 1, 1] -> [N, C] (a view: shares storage; the gradient is reshaped back).
class Flatten : public Module {
 public:
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override { return "Flatten"; }
};

}  // namespace normlab
