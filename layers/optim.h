// SGD with momentum (optionally Nesterov), L2 weight decay and L1, over a set of parameters.
//
// Per step: for each parameter with decay = true (convolution weights), the penalty op adds
// l1 * sign(w) + weight_decay * w to its gradient (kernels/penalty.h); then kernels/sgd.h updates
// w and its velocity. penalty() gives the terms l1 * sum|w| + weight_decay/2 * sum w^2, one per
// penalised parameter, on the parameters' device, that training adds to the reported loss.
#pragma once
#include <vector>

#include "layers/autograd.h"

namespace normlab {

struct SgdConfig {
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 0.0;
  double l1 = 0.0;
};

class Sgd {
 public:
  Sgd(std::vector<Var> params, const SgdConfig& cfg);
  void zero_grad();
  void step(double lr);
  // The penalty terms, one per penalised parameter ([P]; undefined when there is no penalty).
  Tensor penalty() const;
  const std::vector<Var>& params() const { return params_; }
  std::vector<Tensor>& velocity() { return velocity_; }

 private:
  std::vector<Var> params_;
  std::vector<Tensor> velocity_;
  SgdConfig cfg_;
};

}  // namespace normlab
