#include "layers/autograd.h"

#include "core/device.h"
#include "kernels/add.h"

namespace normlab {

Var make_var(Tensor value, std::string name) {
  auto v = std::make_shared<VarNode>();
  v->value = std::move(value);
  v->name = std::move(name);
  return v;
}

Var make_param(Tensor value, std::string name, bool decay) {
  Var v = make_var(std::move(value), std::move(name));
  v->is_param = true;
  v->decay = decay;
  v->grad = Tensor::zeros_like(v->value);
  return v;
}

void add_grad(VarNode& v, const std::function<void(Tensor& out)>& compute) {
  if (!v.grad.defined()) {
    v.grad = Tensor::empty_like(v.value);
    compute(v.grad);
  } else {
    Tensor tmp = Tensor::empty_like(v.value);
    compute(tmp);
    ops::add_inplace(v.grad, tmp);
  }
}

void input_grad(VarNode& x, const std::function<void(Tensor& out)>& compute) {
  if (x.requires_grad) {
    add_grad(x, compute);
  } else {
    Tensor scratch = Tensor::empty_like(x.value);
    compute(scratch);
  }
}

void Tape::record(std::function<void()> backward_fn) { ops_.push_back(std::move(backward_fn)); }

void Tape::backward() {
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) (*it)();
  // Work the closures put on a CUDA branch (core/device.h) may still read the tensors they hold:
  // the main stream waits for it before they are released (and before the optimizer reads it).
  cuda_join_branch();
  ops_.clear();
}

}  // namespace normlab
