// SGD with momentum (optionally Nesterov), L2 weight decay and L1, over a set of parameters.
//
// The optimizer takes the parameters into three flat buffers — values, gradients, velocities —
// with the penalised ones (decay = true: the convolution weights) first; each parameter's value and
// grad become views of its slot (Tensor::rows), so layers, checkpoints and the tape see no change.
// zero_grad() is then one zeroing and step() one launch of kernels/sgd.h over the whole model, which
// adds l1 * sign(w) + weight_decay * w to the gradient of the first n_decay elements and updates
// w and its velocity. Build the optimizer after the network is on its device (move_to), and do not
// move it afterwards. penalty() gives the terms l1 * sum|w| + weight_decay/2 * sum w^2, one per
// penalised parameter, on the parameters' device, that training adds to the reported loss: one
// launch of kernels/penalty.h's penalty_forward_segments over the front of the flat buffer.
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
  void step(double lr);  // (tests and one-off steps: on CUDA the rate is copied to the GPU first)
  // The step at rate lr[s], s read from the step counter when the kernel runs (kernels/step.h):
  // lr holds the run's schedule, one rate per step, in the parameters' dtype and on their device.
  void step(const Tensor& lr, const Tensor& counter);
  // The penalty terms, one per penalised parameter ([P]; undefined when there is no penalty).
  Tensor penalty() const;
  const std::vector<Var>& params() const { return params_; }
  std::vector<Tensor>& velocity() { return velocity_; }

 private:
  std::vector<Var> params_;
  std::vector<Tensor> velocity_;  // views of flat_velocity_, one per parameter (checkpoints)
  Tensor flat_value_, flat_grad_, flat_velocity_;
  // The penalised parameters, at the front of the flat buffers: parameter p is flat elements
  // [decay_begin_[p], decay_begin_[p+1]); empty when there is none (back(): their element count).
  std::vector<int64_t> decay_begin_;
  SgdConfig cfg_;
  int64_t n_decay() const;  // the elements the penalty applies to (0 when it is off)
};

}  // namespace normlab
