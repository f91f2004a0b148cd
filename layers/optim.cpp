#include "layers/optim.h"

#include <cstring>

#include "kernels/dispatch.h"

namespace normlab {

Sgd::Sgd(std::vector<Var> params, const SgdConfig& cfg) : params_(std::move(params)), cfg_(cfg) {
  for (auto& p : params_) velocity_.push_back(Tensor::zeros_like(p->value));
}

void Sgd::zero_grad() {
  for (auto& p : params_) std::memset(p->grad.raw(), 0, p->grad.nbytes());
}

void Sgd::step(double lr) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (p->decay && (cfg_.l1 != 0 || cfg_.weight_decay != 0))
      ops::penalty_backward(p->grad, p->value, cfg_.l1, cfg_.weight_decay);
    ops::sgd_step(p->value, velocity_[i], p->grad, lr, cfg_.momentum, cfg_.nesterov);
  }
}

double Sgd::penalty() const {
  double v = 0;
  if (cfg_.l1 == 0 && cfg_.weight_decay == 0) return 0;
  for (auto& p : params_)
    if (p->decay) v += ops::penalty_forward(p->value, cfg_.l1, cfg_.weight_decay);
  return v;
}

}  // namespace normlab
