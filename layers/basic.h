// Parameter-free layers: ReLU, 2x2 max pool, dropout, global average pool, flatten.
#pragma once
#include "layers/module.h"

namespace normlab {

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
