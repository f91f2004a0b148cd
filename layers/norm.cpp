#include "layers/norm.h"

#include "kernels/batchnorm.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"

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

// ---- BatchNorm2d -------------------------------------------------------------------------
BatchNorm2d::BatchNorm2d(int c, const NormConfig& cfg, DType d)
    : gamma(ones_param({c}, d)), beta(zeros_param({c}, d)), running_mean(Tensor::zeros({c}, d)),
      running_var(Tensor::full({c}, 1.0, d)), eps_(cfg.eps), momentum_(cfg.momentum) {}

std::string BatchNorm2d::kind() const { return "BatchNorm2d(" + std::to_string(gamma->value.numel()) + ")"; }

Var BatchNorm2d::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  if (!ctx.training) {
    ops::batchnorm_forward_eval(y->value, x->value, gamma->value, beta->value, running_mean, running_var, eps_);
    NL_CHECK(ctx.tape == nullptr, "BatchNorm2d: gradients in eval mode are not supported");
    return y;
  }
  const int64_t C = x->value.dim(1);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({C}, dt, dev), rstd = Tensor::empty({C}, dt, dev);
  ops::batchnorm_forward_train(y->value, mean, rstd, running_mean, running_var, x->value, gamma->value,
                               beta->value, eps_, momentum_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd] {
      input_grad(*x, [&](Tensor& dx) {
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
  return "GroupNorm(" + std::to_string(groups_) + " groups, " + std::to_string(gamma->value.numel()) + ")";
}

Var GroupNorm::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  const int64_t N = x->value.dim(0);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({N, groups_}, dt, dev), rstd = Tensor::empty({N, groups_}, dt, dev);
  ops::groupnorm_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, groups_, eps_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd, G = groups_] {
      input_grad(*x, [&](Tensor& dx) {
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
  return std::string("LayerNorm(") + shape_str(chw_) + (per_element_ ? ", per-element affine)" : ", per-channel affine)");
}

Var LayerNorm::forward(const Var& x, Context& ctx) {
  Var y = make_var(Tensor::empty_like(x->value));
  const int64_t N = x->value.dim(0);
  const DType dt = x->value.dtype();
  const Device dev = x->value.device();
  Tensor mean = Tensor::empty({N}, dt, dev), rstd = Tensor::empty({N}, dt, dev);
  ops::layernorm_forward(y->value, mean, rstd, x->value, gamma->value, beta->value, eps_);
  if (ctx.tape) {
    ctx.tape->record([x, y, g = gamma, b = beta, mean, rstd] {
      input_grad(*x, [&](Tensor& dx) {
        ops::layernorm_backward(dx, g->grad, b->grad, y->grad, mean, rstd, x->value, g->value);
      });
    });
  }
  return y;
}

std::unique_ptr<Module> make_norm(Norm n, const Shape& chw, const NormConfig& cfg, DType dtype) {
  return norm_spec(n).make(chw, cfg, dtype);
}

GroupCountError::GroupCountError(int g, int c)
    : InputError("GroupNorm: " + std::to_string(g) + " groups do not divide a layer with " + std::to_string(c) +
                 " channels; choose a group count that divides every layer's channel count"),
      groups(g),
      channels(c) {}

const std::vector<NormSpec>& norm_table() {
  static const std::vector<NormSpec> t = {
      {Norm::bn, "bn", "BN", "Batch Norm", true,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<Module> {
         return std::make_unique<BatchNorm2d>(static_cast<int>(chw[0]), c, d);
       }},
      {Norm::gn, "gn", "GN", "Group Norm", false,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<Module> {
         return std::make_unique<GroupNorm>(static_cast<int>(chw[0]), c, d);
       }},
      {Norm::ln, "ln", "LN", "Layer Norm", false,
       [](const Shape& chw, const NormConfig& c, DType d) -> std::unique_ptr<Module> {
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
