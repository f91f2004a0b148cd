#include "layers/norm.h"

#include <cstdio>

#include "kernels/batchnorm.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"
#include "kernels/relu.h"
#include "layers/basic.h"

namespace normlab {

std::string norm_name(Norm n) { return norm_spec(n).name; }

std::optional<Norm> parse_norm(const std::string& s) {
  for (const NormSpec& r : norm_table())
    if (s == r.name) return r.norm;
  return std::nullopt;
}

namespace {
Var ones_param(const Shape& s, DType d) { return make_param(Tensor::full(s, 1.0, d), "gamma", false); }
Var zeros_param(const Shape& s, DType d) { return make_param(Tensor::zeros(s, d), "beta", false); }
}  // namespace

// ---- the activation ----------------------------------------------------------------------
void NormLayer::set_activation(const NormActivation& a) {
  NL_CHECK(a.dropout >= 0 && a.dropout < 1, kind(), ": dropout must be in [0, 1), got ", a.dropout);
  NL_CHECK(a.relu || a.dropout == 0, kind(), ": dropout after a norm layer needs its ReLU");
  act_ = a;
}

std::string NormLayer::kind_suffix() const {
  std::string s = act_.relu ? " + ReLU" : "";
  if (act_.dropout > 0) {
    char b[32];
    std::snprintf(b, sizeof b, " + Dropout(%.3g)", act_.dropout);
    s += b;
  }
  return s;
}

ops::Act NormLayer::act_for(const Context& ctx) const {
  ops::Act a;
  a.relu = act_.relu;
  if (ctx.training && act_.dropout > 0) {  // dropout is the identity at evaluation
    a.p = act_.dropout;
    a.seed = dropout_mask_seed(ctx, act_.dropout_id);
  }
  return a;
}

// ---- BatchNorm2d -------------------------------------------------------------------------
BatchNorm2d::BatchNorm2d(int c, const NormConfig& cfg, DType d)
    : gamma(ones_param({c}, d)), beta(zeros_param({c}, d)), running_mean(Tensor::zeros({c}, d)),
      running_var(Tensor::full({c}, 1.0, d)), eps_(cfg.eps), momentum_(cfg.momentum) {}

std::string BatchNorm2d::kind() const {
  return "BatchNorm2d(" + std::to_string(gamma->value.numel()) + ")" + kind_suffix();
}

Var BatchNorm2d::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  if (!ctx.training) {
    ops::batchnorm_forward_eval(y->value, x->value, gamma->value, beta->value, running_mean, running_var, eps_);
    if (act_.relu) ops::relu_forward(y->value, y->value);  // in place
    NL_CHECK(ctx.tape == nullptr, "BatchNorm2d: gradients in eval mode are not supported");
    return y;
  }
  const int64_t C = x->value.dim(1);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({C}, dt, dev), rstd = Tensor::empty({C}, dt, dev);
  const ops::Act act = act_for(ctx);
  if (act.relu)
    ops::batchnorm_act_forward_train(y->value, mean, rstd, running_mean, running_var, x->value, gamma->value,
                                     beta->value, eps_, momentum_, act);
  else
    ops::batchnorm_forward_train(y->value, mean, rstd, running_mean, running_var, x->value, gamma->value,
                                 beta->value, eps_, momentum_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd, act] {
      input_grad(*x, [&](Tensor& dx) {
        if (act.relu)
          ops::batchnorm_act_backward(dx, g->grad, b->grad, y->grad, mean, rstd, y->value, x->value, g->value,
                                      b->value, act);
        else
          ops::batchnorm_backward(dx, g->grad, b->grad, y->grad, mean, rstd, x->value, g->value);
      });
    });
  }
  return y;
}

// ---- GroupNorm ---------------------------------------------------------------------------
GroupNorm::GroupNorm(int c, const NormConfig& cfg, DType d)
    : gamma(ones_param({c}, d)), beta(zeros_param({c}, d)), groups_(cfg.groups), eps_(cfg.eps) {
  if (groups_ < 1 || c % groups_ != 0) throw GroupCountError(groups_, c);
}

std::string GroupNorm::kind() const {
  return "GroupNorm(" + std::to_string(groups_) + " groups, " + std::to_string(gamma->value.numel()) + ")" +
         kind_suffix();
}

Var GroupNorm::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  const int64_t N = x->value.dim(0);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({N, groups_}, dt, dev), rstd = Tensor::empty({N, groups_}, dt, dev);
  const ops::Act act = act_for(ctx);
  if (act.relu)
    ops::groupnorm_act_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, groups_, eps_, act);
  else
    ops::groupnorm_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, groups_, eps_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd, G = groups_, act] {
      input_grad(*x, [&](Tensor& dx) {
        if (act.relu)
          ops::groupnorm_act_backward(dx, g->grad, b->grad, y->grad, mean, rstd, y->value, x->value, g->value,
                                      b->value, G, act);
        else
          ops::groupnorm_backward(dx, g->grad, b->grad, y->grad, mean, rstd, x->value, g->value, G);
      });
    });
  }
  return y;
}

// ---- LayerNorm ---------------------------------------------------------------------------
LayerNorm::LayerNorm(const Shape& chw, const NormConfig& cfg, DType d)
    : chw_(chw), per_element_(cfg.ln_per_element), eps_(cfg.eps) {
  NL_CHECK(chw.size() == 3, "LayerNorm: needs the per-sample shape {C,H,W}, got ", shape_str(chw));
  const Shape ps = per_element_ ? chw : Shape{chw[0]};
  gamma = ones_param(ps, d);
  beta = zeros_param(ps, d);
}

std::string LayerNorm::kind() const {
  return std::string("LayerNorm(") + shape_str(chw_) + (per_element_ ? ", per-element affine)" : ", per-channel affine)") +
         kind_suffix();
}

Var LayerNorm::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  const int64_t N = x->value.dim(0);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({N}, dt, dev), rstd = Tensor::empty({N}, dt, dev);
  const ops::Act act = act_for(ctx);
  if (act.relu)
    ops::layernorm_act_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, eps_, act);
  else
    ops::layernorm_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, eps_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd, act] {
      input_grad(*x, [&](Tensor& dx) {
        if (act.relu)
          ops::layernorm_act_backward(dx, g->grad, b->grad, y->grad, mean, rstd, y->value, x->value, g->value,
                                      b->value, act);
        else
          ops::layernorm_backward(dx, g->grad, b->grad, y->grad, mean, rstd, x->value, g->value);
      });
    });
  }
  return y;
}

std::unique_ptr<Module> make_norm(Norm n, const Shape& chw, const NormConfig& cfg, DType dtype,
                                  const NormActivation& act) {
  std::unique_ptr<NormLayer> m = norm_spec(n).make(chw, cfg, dtype);
  m->set_activation(act);
  return m;
}

GroupCountError::GroupCountError(int g, int c)
    : InputError("GroupNorm: " + std::to_string(g) + " groups do not divide a layer with " + std::to_string(c) +
                 " channels; choose a group count that divides every layer's channel count"),
      groups(g),
      channels(c) {}

const std::vector<NormSpec>& norm_table() {
  static const std::vector<NormSpec> t = {
      {Norm::bn, "bn", "BN", "Batch Norm", true,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<NormLayer> {
         return std::make_unique<BatchNorm2d>(static_cast<int>(chw[0]), c, d);
       }},
      {Norm::gn, "gn", "GN", "Group Norm", false,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<NormLayer> {
         return std::make_unique<GroupNorm>(static_cast<int>(chw[0]), c, d);
       }},
      {Norm::ln, "ln", "LN", "Layer Norm", false,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<NormLayer> {
         return std::make_unique<LayerNorm>(chw, c, d);
       }},
  };
  return t;
}

const NormSpec& norm_spec(Norm n) {
  for (const NormSpec& r : norm_table())
    if (r.norm == n) return r;
  throw Error("norm_spec: a Norm without a row in norm_table()");
}

std::string norm_choices() {
  const auto& t = norm_table();
  std::string s;
  for (std::size_t i = 0; i < t.size(); ++i) s += std::string(i == 0 ? "" : i + 1 == t.size() ? " or " : ", ") + t[i].name;
  return s;
}

}  // namespace normlab
