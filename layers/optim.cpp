#include "layers/optim.h"

#include "kernels/penalty.h"
#include "kernels/sgd.h"

namespace normlab {

Sgd::Sgd(std::vector<Var> params, const SgdConfig& cfg) : params_(std::move(params)), cfg_(cfg) {
  NL_CHECK(!params_.empty(), "Sgd: no parameters");
  const Tensor& first = params_.front()->value;
  // Slots: the penalised parameters first (in their order), then the others.
  std::vector<int64_t> offset(params_.size());
  int64_t total = 0;
  for (bool decay : {true, false}) {
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (params_[i]->decay == decay) {
        const Tensor& v = params_[i]->value;
        NL_CHECK(v.dtype() == first.dtype() && v.device() == first.device(), "Sgd: parameter ", params_[i]->name,
                 " is ", v.describe(), ", the first is ", first.describe(), "; one optimizer takes one dtype and device");
        if (decay) decay_begin_.push_back(total);
        offset[i] = total;
        total += v.numel();
      }
    if (decay && !decay_begin_.empty()) decay_begin_.push_back(total);  // the end of the last one
  }
  flat_value_ = Tensor::empty({total}, first.dtype(), first.device());
  flat_grad_ = Tensor::zeros({total}, first.dtype(), first.device());
  flat_velocity_ = Tensor::zeros({total}, first.dtype(), first.device());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    VarNode& p = *params_[i];
    const Shape shape = p.value.shape();
    const int64_t n = p.value.numel();
    Tensor value = flat_value_.rows(offset[i], n).reshape(shape);
    value.copy_from(p.value);
    p.value = value;
    p.grad = flat_grad_.rows(offset[i], n).reshape(shape);
    velocity_.push_back(flat_velocity_.rows(offset[i], n).reshape(shape));
  }
}

void Sgd::zero_grad() { flat_grad_.zero_(); }

int64_t Sgd::n_decay() const {
  const bool penalised = cfg_.l1 != 0 || cfg_.weight_decay != 0;
  return penalised && !decay_begin_.empty() ? decay_begin_.back() : 0;
}

void Sgd::step(double lr) {
  ops::sgd_step(flat_value_, flat_velocity_, flat_grad_, n_decay(), cfg_.l1, cfg_.weight_decay, lr, cfg_.momentum,
                cfg_.nesterov);
}

void Sgd::step(const Tensor& lr, const Tensor& counter) {
  ops::sgd_step(flat_value_, flat_velocity_, flat_grad_, n_decay(), cfg_.l1, cfg_.weight_decay, lr, counter,
                cfg_.momentum, cfg_.nesterov);
}

Tensor Sgd::penalty() const {
  if (cfg_.l1 == 0 && cfg_.weight_decay == 0) return {};
  if (decay_begin_.empty()) return {};
  const int64_t P = int64_t(decay_begin_.size()) - 1;
  Tensor terms = Tensor::zeros({P}, flat_value_.dtype(), flat_value_.device());
  ops::penalty_forward_segments(terms, flat_value_, decay_begin_, cfg_.l1, cfg_.weight_decay);
  return terms;
}

}  // namespace normlab
