#include "layers/optim.h"

#include "kernels/penalty.h"
#include "kernels/sgd.h"

namespace normlab {

Sgd::Sgd(std::vector<Var> params, const SgdConfig& cfg) : params_(std::move(params)), cfg_(cfg) {
  for (auto& p : params_) velocity_.push_back(Tensor::zeros_like(p->value));
}

void Sgd::zero_grad() {
  for (auto& p : params_) p->grad.zero_();
}

void Sgd::step(double lr) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (p->decay && (cfg_.l1 != 0 || cfg_.weight_decay != 0))
      ops::penalty_backward(p->grad, p->value, cfg_.l1, cfg_.weight_decay);
    ops::sgd_step(p->value, velocity_[i], p->grad, lr, cfg_.momentum, cfg_.nesterov);
  }
}

Tensor Sgd::penalty() const {
  if (cfg_.l1 == 0 && cfg_.weight_decay == 0) return {};
  int64_t P = 0;
  for (auto& p : params_) P += p->decay;
  if (P == 0) return {};
  const Tensor& first = params_.front()->value;
  Tensor terms = Tensor::zeros({P}, first.dtype(), first.device());
  int64_t slot = 0;
  for (auto& p : params_)
    if (p->decay) ops::penalty_forward(terms, slot++, p->value, cfg_.l1, cfg_.weight_decay);
  return terms;
}

}  // namespace normlab
