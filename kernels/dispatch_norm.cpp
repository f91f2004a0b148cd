// The dispatcher (kernels/dispatch.cpp says how it works), this part: the three norms, plain and
// with the ReLU (+ dropout) after them (kernels/activation.h). An op and its `_act` form check their
// tensors with the same helpers; the `_act` form adds the activation, y (the backward's mask) and beta.

#include "kernels/batchnorm.h"
#include "kernels/dispatch_impl.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"

namespace normlab::ops {
using namespace detail;

namespace {
// The activation as the kernels take it, after checking it.
DropoutSeed act_seed(const char* op, const Act& a, const Tensor& x) {
  NL_CHECK(a.p >= 0 && a.p < 1, op, ": dropout p must be in [0, 1), got ", a.p);
  NL_CHECK(a.relu || a.p == 0, op, ": dropout after a normalization needs the ReLU (relu = true)");
  return mask_seed(op, a.seed, x);
}
template <typename T>
Activation<T> act_of(const Act& a, DropoutSeed s) {
  return {a.relu, T(a.p), s};
}

// Every named tensor has the shape `want`.
struct Named {
  const char* name;
  const Tensor* t;
};
void check_shapes(const char* op, const Shape& want, std::initializer_list<Named> ts) {
  for (const Named& n : ts) check_shape(op, n.name, *n.t, want);
}

// Batch norm: x [N, C, H, W] with at least 2 values per channel; statistics and parameters [C].
Shape bn_channels(const char* op, const Tensor& x) {
  check4(op, "x", x);
  NL_CHECK(x.dim(0) * x.dim(2) * x.dim(3) >= 2, op, ": needs at least 2 values per channel, x is ",
           shape_str(x.shape()));
  return {x.dim(1)};
}
// Group norm: x [N, C, H, W], G dividing C; statistics [N, G], parameters [C].
Shape gn_stats(const char* op, const Tensor& x, int groups) {
  check4(op, "x", x);
  NL_CHECK(groups >= 1 && x.dim(1) % groups == 0, op, ": ", groups, " groups do not divide ", x.dim(1), " channels");
  return {x.dim(0), groups};
}
// Layer norm: x [N, C, H, W]; statistics [N]; parameters [C] (per channel) or [C, H, W] (per
// element, the result).
bool ln_per_element(const char* op, const Tensor& x, const Tensor& gamma) {
  check4(op, "x", x);
  if (gamma.shape() == Shape{x.dim(1)}) return false;
  NL_CHECK(gamma.numel() == x.dim(1) * x.dim(2) * x.dim(3), op, ": gamma ", shape_str(gamma.shape()),
           " is neither [C] nor [C,H,W] for x ", shape_str(x.shape()));
  return true;
}
}  // namespace

// ---- batch norm ----------------------------------------------------------------------------
void batchnorm_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean, Tensor& running_var,
                             const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum) {
  const char* op = "batchnorm_forward_train";
  check_shapes(op, bn_channels(op, x), {{"mean", &mean}, {"rstd", &rstd}, {"running_mean", &running_mean},
                                        {"running_var", &running_var}, {"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(batchnorm_forward_train, op, x, (&y, &mean, &rstd, &running_mean, &running_var, &gamma, &beta), y.data<T>(),
            mean.data<T>(), rstd.data<T>(), running_mean.data<T>(), running_var.data<T>(), x.data<T>(), gamma.data<T>(),
            beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), T(eps), T(momentum));
}

void batchnorm_act_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean, Tensor& running_var,
                                 const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                                 const Act& act) {
  const char* op = "batchnorm_act_forward_train";
  const DropoutSeed s = act_seed(op, act, x);
  check_shapes(op, bn_channels(op, x), {{"mean", &mean}, {"rstd", &rstd}, {"running_mean", &running_mean},
                                        {"running_var", &running_var}, {"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(batchnorm_act_forward_train, op, x, (&y, &mean, &rstd, &running_mean, &running_var, &gamma, &beta),
            y.data<T>(), mean.data<T>(), rstd.data<T>(), running_mean.data<T>(), running_var.data<T>(), x.data<T>(),
            gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), T(eps), T(momentum),
            act_of<T>(act, s));
}

void batchnorm_forward_eval(Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps) {
  const char* op = "batchnorm_forward_eval";
  check4(op, "x", x);
  check_shapes(op, {x.dim(1)},
               {{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean}, {"running_var", &running_var}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(batchnorm_forward_eval, op, x, (&y, &gamma, &beta, &running_mean, &running_var), y.data<T>(), x.data<T>(),
            gamma.data<T>(), beta.data<T>(), running_mean.data<T>(), running_var.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), T(eps));
}

void batchnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                        const Tensor& rstd, const Tensor& x, const Tensor& gamma) {
  const char* op = "batchnorm_backward";
  check_shapes(op, bn_channels(op, x),
               {{"dgamma", &dgamma}, {"dbeta", &dbeta}, {"mean", &mean}, {"rstd", &rstd}, {"gamma", &gamma}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}});
  NL_KERNEL(batchnorm_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &gamma), dx.data<T>(),
            dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(),
            gamma.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)));
}

void batchnorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                            const Tensor& rstd, const Tensor& y, const Tensor& x, const Tensor& gamma,
                            const Tensor& beta, const Act& act) {
  const char* op = "batchnorm_act_backward";
  const DropoutSeed s = act_seed(op, act, x);
  check_shapes(op, bn_channels(op, x), {{"dgamma", &dgamma}, {"dbeta", &dbeta}, {"mean", &mean}, {"rstd", &rstd},
                                        {"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}, {"y", &y}});
  NL_KERNEL(batchnorm_act_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &y, &gamma, &beta),
            dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(),
            y.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), act_of<T>(act, s));
}

// ---- group norm ----------------------------------------------------------------------------
void groupnorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       int groups, double eps) {
  const char* op = "groupnorm_forward";
  check_shapes(op, gn_stats(op, x, groups), {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, {x.dim(1)}, {{"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(groupnorm_forward, op, x, (&y, &mean, &rstd, &gamma, &beta), y.data<T>(), mean.data<T>(), rstd.data<T>(),
            x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), groups,
            T(eps));
}

void groupnorm_act_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, int groups, double eps, const Act& act) {
  const char* op = "groupnorm_act_forward";
  const DropoutSeed s = act_seed(op, act, x);
  check_shapes(op, gn_stats(op, x, groups), {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, {x.dim(1)}, {{"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(groupnorm_act_forward, op, x, (&y, &mean, &rstd, &gamma, &beta), y.data<T>(), mean.data<T>(),
            rstd.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), groups, T(eps), act_of<T>(act, s));
}

void groupnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                        const Tensor& rstd, const Tensor& x, const Tensor& gamma, int groups) {
  const char* op = "groupnorm_backward";
  check_shapes(op, gn_stats(op, x, groups), {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, {x.dim(1)}, {{"dgamma", &dgamma}, {"dbeta", &dbeta}, {"gamma", &gamma}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}});
  NL_KERNEL(groupnorm_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &gamma), dx.data<T>(),
            dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(),
            gamma.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), groups);
}

void groupnorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                            const Tensor& rstd, const Tensor& y, const Tensor& x, const Tensor& gamma,
                            const Tensor& beta, int groups, const Act& act) {
  const char* op = "groupnorm_act_backward";
  const DropoutSeed s = act_seed(op, act, x);
  check_shapes(op, gn_stats(op, x, groups), {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, {x.dim(1)}, {{"dgamma", &dgamma}, {"dbeta", &dbeta}, {"gamma", &gamma}, {"beta", &beta}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}, {"y", &y}});
  NL_KERNEL(groupnorm_act_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &y, &gamma, &beta),
            dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(),
            y.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), groups, act_of<T>(act, s));
}

// ---- layer norm ----------------------------------------------------------------------------
void layernorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       double eps) {
  const char* op = "layernorm_forward";
  const bool pe = ln_per_element(op, x, gamma);
  check_shapes(op, gamma.shape(), {{"beta", &beta}});
  check_shapes(op, {x.dim(0)}, {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(layernorm_forward, op, x, (&y, &mean, &rstd, &gamma, &beta), y.data<T>(), mean.data<T>(), rstd.data<T>(),
            x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), pe, T(eps));
}

void layernorm_act_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, double eps, const Act& act) {
  const char* op = "layernorm_act_forward";
  const DropoutSeed s = act_seed(op, act, x);
  const bool pe = ln_per_element(op, x, gamma);
  check_shapes(op, gamma.shape(), {{"beta", &beta}});
  check_shapes(op, {x.dim(0)}, {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, x.shape(), {{"y", &y}});
  NL_KERNEL(layernorm_act_forward, op, x, (&y, &mean, &rstd, &gamma, &beta), y.data<T>(), mean.data<T>(),
            rstd.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), pe, T(eps), act_of<T>(act, s));
}

void layernorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                        const Tensor& rstd, const Tensor& x, const Tensor& gamma) {
  const char* op = "layernorm_backward";
  const bool pe = ln_per_element(op, x, gamma);
  check_shapes(op, gamma.shape(), {{"dgamma", &dgamma}, {"dbeta", &dbeta}});
  check_shapes(op, {x.dim(0)}, {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}});
  NL_KERNEL(layernorm_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &gamma), dx.data<T>(),
            dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(),
            gamma.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), pe);
}

void layernorm_act_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& mean,
                            const Tensor& rstd, const Tensor& y, const Tensor& x, const Tensor& gamma,
                            const Tensor& beta, const Act& act) {
  const char* op = "layernorm_act_backward";
  const DropoutSeed s = act_seed(op, act, x);
  const bool pe = ln_per_element(op, x, gamma);
  check_shapes(op, gamma.shape(), {{"dgamma", &dgamma}, {"dbeta", &dbeta}, {"beta", &beta}});
  check_shapes(op, {x.dim(0)}, {{"mean", &mean}, {"rstd", &rstd}});
  check_shapes(op, x.shape(), {{"dy", &dy}, {"dx", &dx}, {"y", &y}});
  NL_KERNEL(layernorm_act_backward, op, x, (&dx, &dgamma, &dbeta, &dy, &mean, &rstd, &y, &gamma, &beta),
            dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(), mean.data<T>(), rstd.data<T>(),
            y.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(), i(x.dim(0)), i(x.dim(1)),
            i(x.dim(2) * x.dim(3)), pe, act_of<T>(act, s));
}

}  // namespace normlab::ops
