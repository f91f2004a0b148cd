// Conv2d layer: weights [K, C, R, R] (He-normal init), optional bias; math in kernels/conv2d.h.
#pragma once
#include "core/rng.h"
#include "layers/module.h"

namespace normlab {

class Conv2d : public Module {
 public:
  Conv2d(int in_ch, int out_ch, int kernel, int pad, bool bias, Rng& rng, DType dtype = DType::f32);
  Var forward(const Var& x, Context& ctx) override;
  std::string kind() const override;
  std::vector<Var> parameters() override;

  Var weight, bias;  // bias may be null

 private:
  int pad_;
};

}  // namespace normlab
