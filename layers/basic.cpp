#include "layers/basic.h"

#include <cstdio>

#include "core/rng.h"
#include "kernels/add.h"
#include "kernels/dropout.h"
#include "kernels/gap.h"
#include "kernels/maxpool.h"
#include "kernels/relu.h"

namespace normlab {

Var ReLU::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  ops::relu_forward(y->value, x->value);
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y] { add_grad(*x, [&](Tensor& dx) { ops::relu_backward(dx, y->grad, y->value); }); });
  return y;
}

Var MaxPool2x2::forward(const Var& x, Context& ctx) {
  const auto& s = x->value.shape();
  NL_CHECK(s.size() == 4, "MaxPool2x2: input must be [N,C,H,W], got ", shape_str(s));
  const Shape out{s[0], s[1], s[2] / 2, s[3] / 2};
  Var y = make_var(Tensor::empty(out, x->value.dtype(), x->value.device()));
  Tensor argmax = Tensor::empty(out, DType::i32, x->value.device());
  ops::maxpool2x2_forward(y->value, argmax, x->value);
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y, argmax] {
      add_grad(*x, [&](Tensor& dx) { ops::maxpool2x2_backward(dx, y->grad, argmax); });
    });
  return y;
}

std::string Dropout::kind() const {
  char b[32];
  std::snprintf(b, sizeof b, "Dropout(%.3g)", p_);
  return b;
}

ops::MaskSeed dropout_mask_seed(const Context& ctx, uint64_t id) {
  if (ctx.step.defined()) return {ctx.seed, id, ctx.step};
  return dropout_layer_seed(ctx.seed, id);
}

Var Dropout::forward(const Var& x, Context& ctx) {
  if (!ctx.training || p_ == 0) return x;  // identity at evaluation
  const ops::MaskSeed seed = dropout_mask_seed(ctx, id_);
  Var y = make_var(Tensor::empty_like(x->value));
  ops::dropout_forward(y->value, x->value, p_, seed);
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y, p = p_, seed] {
      add_grad(*x, [&](Tensor& dx) { ops::dropout_backward(dx, y->grad, p, seed); });
    });
  return y;
}

std::string ReLUDropout::kind() const {
  char b[40];
  std::snprintf(b, sizeof b, "ReLU + Dropout(%.3g)", p_);
  return b;
}

Var ReLUDropout::forward(const Var& x, Context& ctx) {
  if (!ctx.training || p_ == 0) return ReLU().forward(x, ctx);  // dropout is the identity at evaluation
  const ops::MaskSeed seed = dropout_mask_seed(ctx, id_);
  Var y = make_var(Tensor::empty_like(x->value));
  ops::relu_dropout_forward(y->value, x->value, p_, seed);
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y, p = p_] {
      add_grad(*x, [&](Tensor& dx) { ops::relu_dropout_backward(dx, y->grad, y->value, p); });
    });
  return y;
}

Var GlobalAvgPool::forward(const Var& x, Context& ctx) {
  const auto& s = x->value.shape();
  NL_CHECK(s.size() == 4, "GlobalAvgPool: input must be [N,C,H,W], got ", shape_str(s));
  Var y = make_var(Tensor::empty({s[0], s[1], 1, 1}, x->value.dtype(), x->value.device()));
  ops::gap_forward(y->value, x->value);
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y] { add_grad(*x, [&](Tensor& dx) { ops::gap_backward(dx, y->grad); }); });
  return y;
}

Var Flatten::forward(const Var& x, Context& ctx) {
  const auto& s = x->value.shape();
  Var y = make_var(x->value.reshape({s[0], x->value.numel() / s[0]}));
  if (ctx.tape && x->requires_grad)
    ctx.tape->record([x, y] {
      // dx is dy seen in x's shape: a view of the same storage, no copy (and on the GPU no copy
      // node in a captured step). y's gradient is not read again once its backward has run.
      const Tensor dx = y->grad.reshape(x->value.shape());
      if (x->grad.defined()) {
        ops::add_inplace(x->grad, dx);
      } else {
        x->grad = dx;
      }
    });
  return y;
}

}  // namespace normlab
