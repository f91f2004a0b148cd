// The dispatcher (see kernels/dispatch.h): checks, then the backend kernel for the device/dtype.
#include "kernels/dispatch.h"

#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/gap.h"
#include "kernels/groupnorm.h"
#include "kernels/layernorm.h"
#include "kernels/log_softmax_nll.h"
#include "kernels/maxpool.h"
#include "kernels/penalty.h"
#include "kernels/relu.h"
#include "kernels/rotate.h"
#include "kernels/sgd.h"

namespace normlab::ops {
namespace {

// Calls f(T{}) with T = float or double per the tensor's dtype, on the CPU backend. The CUDA
// backend (issue 3) will branch here on t.device().
template <typename F>
void on_cpu_float(const char* op, const Tensor& t, F&& f) {
  NL_CHECK(t.defined(), op, ": undefined input");
  NL_CHECK(t.device() == Device::cpu, op, ": ", t.describe(),
           " needs the CUDA backend, which this build does not have");
  switch (t.dtype()) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    default: throw Error(std::string(op) + ": expected a floating-point tensor, got " + t.describe());
  }
}

void check4(const char* op, const char* name, const Tensor& t) {
  NL_CHECK(t.defined() && t.ndim() == 4, op, ": ", name, " must be 4-d [N,C,H,W], got ", t.describe());
}

int i(int64_t v) { return static_cast<int>(v); }

Conv2dShape conv_shape(const char* op, const Tensor& x, const Tensor& w, int pad) {
  check4(op, "x", x);
  check4(op, "w", w);
  NL_CHECK(w.dim(2) == w.dim(3) && (w.dim(2) == 1 || w.dim(2) == 3), op,
           ": only 1x1 and 3x3 kernels are supported, w is ", shape_str(w.shape()));
  NL_CHECK(pad == 0 || pad == 1, op, ": padding must be 0 or 1, got ", pad);
  NL_CHECK(w.dim(1) == x.dim(1), op, ": w ", shape_str(w.shape()), " expects ", w.dim(1),
           " input channels but x is ", shape_str(x.shape()));
  Conv2dShape s{i(x.dim(0)), i(x.dim(1)), i(x.dim(2)), i(x.dim(3)), i(w.dim(0)), i(w.dim(2)), pad};
  NL_CHECK(s.Ho() >= 1 && s.Wo() >= 1, op, ": input ", shape_str(x.shape()), " is smaller than the kernel");
  check_same(op, x, "x", w, "w");
  return s;
}

Shape conv_out(const Conv2dShape& s) { return {s.N, s.K, s.Ho(), s.Wo()}; }

}  // namespace

void add_inplace(Tensor& a, const Tensor& b) {
  check_same("add", a, "a", b, "b");
  check_shape("add", "b", b, a.shape());
  on_cpu_float("add", a, [&](auto t) {
    using T = decltype(t);
    T* p = a.data<T>();
    const T* q = b.data<T>();
    for (int64_t k = 0; k < a.numel(); ++k) p[k] += q[k];
  });
}

void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int pad) {
  const auto s = conv_shape("conv2d_forward", x, w, pad);
  check_shape("conv2d_forward", "y", y, conv_out(s));
  if (b.defined()) check_shape("conv2d_forward", "b", b, {s.K});
  on_cpu_float("conv2d_forward", x, [&](auto t) {
    using T = decltype(t);
    cpu::conv2d_forward<T>(y.data<T>(), x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, s);
  });
}

void conv2d_backward_data(Tensor& dx, const Tensor& dy, const Tensor& w, int pad) {
  const auto s = conv_shape("conv2d_backward_data", dx, w, pad);
  check_shape("conv2d_backward_data", "dy", dy, conv_out(s));
  on_cpu_float("conv2d_backward_data", dy, [&](auto t) {
    using T = decltype(t);
    cpu::conv2d_backward_data<T>(dx.data<T>(), dy.data<T>(), w.data<T>(), s);
  });
}

void conv2d_backward_weight(Tensor& dw, Tensor* db, const Tensor& dy, const Tensor& x, int pad) {
  const auto s = conv_shape("conv2d_backward_weight", x, dw, pad);
  check_shape("conv2d_backward_weight", "dy", dy, conv_out(s));
  if (db) check_shape("conv2d_backward_weight", "db", *db, {s.K});
  on_cpu_float("conv2d_backward_weight", x, [&](auto t) {
    using T = decltype(t);
    cpu::conv2d_backward_weight<T>(dw.data<T>(), db ? db->data<T>() : nullptr, dy.data<T>(), x.data<T>(), s);
  });
}

void batchnorm_forward_train(Tensor& y, Tensor& mean, Tensor& rstd, Tensor& running_mean,
                             Tensor& running_var, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, double eps, double momentum) {
  const char* op = "batchnorm_forward_train";
  check4(op, "x", x);
  const Shape c{x.dim(1)};
  for (const Tensor* t : {&mean, &rstd, &running_mean, &running_var}) check_shape(op, "statistics", *t, c);
  check_shape(op, "gamma", gamma, c);
  check_shape(op, "beta", beta, c);
  check_shape(op, "y", y, x.shape());
  NL_CHECK(x.dim(0) * x.dim(2) * x.dim(3) >= 2, op, ": needs at least 2 values per channel, x is ",
           shape_str(x.shape()));
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::batchnorm_forward_train<T>(y.data<T>(), mean.data<T>(), rstd.data<T>(), running_mean.data<T>(),
                                    running_var.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(),
                                    i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), T(eps), T(momentum));
  });
}

void batchnorm_forward_eval(Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, double eps) {
  const char* op = "batchnorm_forward_eval";
  check4(op, "x", x);
  const Shape c{x.dim(1)};
  for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var}) check_shape(op, "parameter", *t, c);
  check_shape(op, "y", y, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::batchnorm_forward_eval<T>(y.data<T>(), x.data<T>(), gamma.data<T>(), beta.data<T>(),
                                   running_mean.data<T>(), running_var.data<T>(), i(x.dim(0)),
                                   i(x.dim(1)), i(x.dim(2) * x.dim(3)), T(eps));
  });
}

void batchnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma) {
  const char* op = "batchnorm_backward";
  check4(op, "x", x);
  const Shape c{x.dim(1)};
  for (const Tensor* t : std::initializer_list<const Tensor*>{&dgamma, &dbeta, &mean, &rstd, &gamma}) check_shape(op, "per-channel tensor", *t, c);
  check_shape(op, "dy", dy, x.shape());
  check_shape(op, "dx", dx, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::batchnorm_backward<T>(dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(),
                               mean.data<T>(), rstd.data<T>(), x.data<T>(), gamma.data<T>(),
                               i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)));
  });
}

namespace {
void check_groups(const char* op, const Tensor& x, int groups) {
  NL_CHECK(groups >= 1 && x.dim(1) % groups == 0, op, ": ", groups, " groups do not divide ",
           x.dim(1), " channels");
}
}  // namespace

void groupnorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, int groups, double eps) {
  const char* op = "groupnorm_forward";
  check4(op, "x", x);
  check_groups(op, x, groups);
  check_shape(op, "mean", mean, {x.dim(0), groups});
  check_shape(op, "rstd", rstd, {x.dim(0), groups});
  check_shape(op, "gamma", gamma, {x.dim(1)});
  check_shape(op, "beta", beta, {x.dim(1)});
  check_shape(op, "y", y, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::groupnorm_forward<T>(y.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(), gamma.data<T>(),
                              beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), groups, T(eps));
  });
}

void groupnorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma,
                        int groups) {
  const char* op = "groupnorm_backward";
  check4(op, "x", x);
  check_groups(op, x, groups);
  check_shape(op, "mean", mean, {x.dim(0), groups});
  check_shape(op, "rstd", rstd, {x.dim(0), groups});
  for (const Tensor* t : std::initializer_list<const Tensor*>{&dgamma, &dbeta, &gamma}) check_shape(op, "per-channel tensor", *t, {x.dim(1)});
  check_shape(op, "dy", dy, x.shape());
  check_shape(op, "dx", dx, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::groupnorm_backward<T>(dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(),
                               mean.data<T>(), rstd.data<T>(), x.data<T>(), gamma.data<T>(),
                               i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), groups);
  });
}

namespace {
bool ln_per_element(const char* op, const Tensor& x, const Tensor& gamma) {
  if (gamma.shape() == Shape{x.dim(1)}) return false;
  NL_CHECK(gamma.numel() == x.dim(1) * x.dim(2) * x.dim(3), op, ": gamma ", shape_str(gamma.shape()),
           " is neither [C] nor [C,H,W] for x ", shape_str(x.shape()));
  return true;
}
}  // namespace

void layernorm_forward(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, double eps) {
  const char* op = "layernorm_forward";
  check4(op, "x", x);
  const bool pe = ln_per_element(op, x, gamma);
  check_shape(op, "beta", beta, gamma.shape());
  check_shape(op, "mean", mean, {x.dim(0)});
  check_shape(op, "rstd", rstd, {x.dim(0)});
  check_shape(op, "y", y, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::layernorm_forward<T>(y.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(), gamma.data<T>(),
                              beta.data<T>(), i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), pe, T(eps));
  });
}

void layernorm_backward(Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy,
                        const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& gamma) {
  const char* op = "layernorm_backward";
  check4(op, "x", x);
  const bool pe = ln_per_element(op, x, gamma);
  check_shape(op, "dgamma", dgamma, gamma.shape());
  check_shape(op, "dbeta", dbeta, gamma.shape());
  check_shape(op, "mean", mean, {x.dim(0)});
  check_shape(op, "rstd", rstd, {x.dim(0)});
  check_shape(op, "dy", dy, x.shape());
  check_shape(op, "dx", dx, x.shape());
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::layernorm_backward<T>(dx.data<T>(), dgamma.data<T>(), dbeta.data<T>(), dy.data<T>(),
                               mean.data<T>(), rstd.data<T>(), x.data<T>(), gamma.data<T>(),
                               i(x.dim(0)), i(x.dim(1)), i(x.dim(2) * x.dim(3)), pe);
  });
}

void relu_forward(Tensor& y, const Tensor& x) {
  check_shape("relu_forward", "y", y, x.shape());
  on_cpu_float("relu_forward", x, [&](auto t) {
    using T = decltype(t);
    cpu::relu_forward<T>(y.data<T>(), x.data<T>(), x.numel());
  });
}

void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y) {
  check_shape("relu_backward", "dy", dy, y.shape());
  check_shape("relu_backward", "dx", dx, y.shape());
  on_cpu_float("relu_backward", y, [&](auto t) {
    using T = decltype(t);
    cpu::relu_backward<T>(dx.data<T>(), dy.data<T>(), y.data<T>(), y.numel());
  });
}

void maxpool2x2_forward(Tensor& y, Tensor& argmax, const Tensor& x) {
  const char* op = "maxpool2x2_forward";
  check4(op, "x", x);
  NL_CHECK(x.dim(2) >= 2 && x.dim(3) >= 2, op, ": input ", shape_str(x.shape()), " is smaller than 2x2");
  const Shape out{x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2};
  check_shape(op, "y", y, out);
  check_shape(op, "argmax", argmax, out);
  NL_CHECK(argmax.dtype() == DType::i32, op, ": argmax must be i32");
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::maxpool2x2_forward<T>(y.data<T>(), argmax.data<int32_t>(), x.data<T>(), i(x.dim(0) * x.dim(1)),
                               i(x.dim(2)), i(x.dim(3)));
  });
}

void maxpool2x2_backward(Tensor& dx, const Tensor& dy, const Tensor& argmax) {
  const char* op = "maxpool2x2_backward";
  check4(op, "dx", dx);
  const Shape out{dx.dim(0), dx.dim(1), dx.dim(2) / 2, dx.dim(3) / 2};
  check_shape(op, "dy", dy, out);
  check_shape(op, "argmax", argmax, out);
  on_cpu_float(op, dx, [&](auto t) {
    using T = decltype(t);
    cpu::maxpool2x2_backward<T>(dx.data<T>(), dy.data<T>(), argmax.data<int32_t>(), i(dx.dim(0) * dx.dim(1)),
                                i(dx.dim(2)), i(dx.dim(3)));
  });
}

void dropout_forward(Tensor& y, const Tensor& x, double p, uint64_t seed) {
  NL_CHECK(p >= 0 && p < 1, "dropout_forward: p must be in [0, 1), got ", p);
  check_shape("dropout_forward", "y", y, x.shape());
  on_cpu_float("dropout_forward", x, [&](auto t) {
    using T = decltype(t);
    cpu::dropout_forward<T>(y.data<T>(), x.data<T>(), x.numel(), T(p), seed);
  });
}

void dropout_backward(Tensor& dx, const Tensor& dy, double p, uint64_t seed) {
  NL_CHECK(p >= 0 && p < 1, "dropout_backward: p must be in [0, 1), got ", p);
  check_shape("dropout_backward", "dx", dx, dy.shape());
  on_cpu_float("dropout_backward", dy, [&](auto t) {
    using T = decltype(t);
    cpu::dropout_backward<T>(dx.data<T>(), dy.data<T>(), dy.numel(), T(p), seed);
  });
}

void gap_forward(Tensor& y, const Tensor& x) {
  check4("gap_forward", "x", x);
  check_shape("gap_forward", "y", y, {x.dim(0), x.dim(1), 1, 1});
  on_cpu_float("gap_forward", x, [&](auto t) {
    using T = decltype(t);
    cpu::gap_forward<T>(y.data<T>(), x.data<T>(), i(x.dim(0) * x.dim(1)), i(x.dim(2) * x.dim(3)));
  });
}

void gap_backward(Tensor& dx, const Tensor& dy) {
  check4("gap_backward", "dx", dx);
  check_shape("gap_backward", "dy", dy, {dx.dim(0), dx.dim(1), 1, 1});
  on_cpu_float("gap_backward", dy, [&](auto t) {
    using T = decltype(t);
    cpu::gap_backward<T>(dx.data<T>(), dy.data<T>(), i(dx.dim(0) * dx.dim(1)), i(dx.dim(2) * dx.dim(3)));
  });
}

namespace {
void check_labels(const char* op, const Tensor& z, const Tensor& labels) {
  NL_CHECK(z.ndim() == 2, op, ": logits must be [N,K], got ", z.describe());
  check_shape(op, "labels", labels, {z.dim(0)});
  NL_CHECK(labels.dtype() == DType::i32, op, ": labels must be i32");
  const int32_t* l = labels.data<int32_t>();
  for (int64_t k = 0; k < labels.numel(); ++k)
    NL_CHECK(l[k] >= 0 && l[k] < z.dim(1), op, ": label ", l[k], " at ", k, " is outside 0..", z.dim(1) - 1);
}
}  // namespace

double log_softmax_nll_forward(Tensor& logp, const Tensor& z, const Tensor& labels) {
  const char* op = "log_softmax_nll_forward";
  check_labels(op, z, labels);
  check_shape(op, "logp", logp, z.shape());
  double loss = 0;
  on_cpu_float(op, z, [&](auto t) {
    using T = decltype(t);
    T l{};
    cpu::log_softmax_nll_forward<T>(logp.data<T>(), &l, z.data<T>(), labels.data<int32_t>(), i(z.dim(0)), i(z.dim(1)));
    loss = static_cast<double>(l);
  });
  return loss;
}

void log_softmax_nll_backward(Tensor& dz, const Tensor& logp, const Tensor& labels, double dloss) {
  const char* op = "log_softmax_nll_backward";
  check_labels(op, logp, labels);
  check_shape(op, "dz", dz, logp.shape());
  on_cpu_float(op, logp, [&](auto t) {
    using T = decltype(t);
    cpu::log_softmax_nll_backward<T>(dz.data<T>(), logp.data<T>(), labels.data<int32_t>(), T(dloss),
                                     i(logp.dim(0)), i(logp.dim(1)));
  });
}

double penalty_forward(const Tensor& w, double l1, double l2) {
  double v = 0;
  on_cpu_float("penalty_forward", w, [&](auto t) {
    using T = decltype(t);
    T acc{};
    cpu::penalty_forward<T>(&acc, w.data<T>(), w.numel(), T(l1), T(l2));
    v = static_cast<double>(acc);
  });
  return v;
}

void penalty_backward(Tensor& dw, const Tensor& w, double l1, double l2) {
  check_shape("penalty_backward", "dw", dw, w.shape());
  on_cpu_float("penalty_backward", w, [&](auto t) {
    using T = decltype(t);
    cpu::penalty_backward<T>(dw.data<T>(), w.data<T>(), w.numel(), T(l1), T(l2));
  });
}

void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, double lr, double momentum, bool nesterov) {
  check_shape("sgd_step", "v", v, w.shape());
  check_shape("sgd_step", "dw", dw, w.shape());
  on_cpu_float("sgd_step", w, [&](auto t) {
    using T = decltype(t);
    cpu::sgd_step<T>(w.data<T>(), v.data<T>(), dw.data<T>(), w.numel(), T(lr), T(momentum), nesterov);
  });
}

void rotate_forward(Tensor& y, const Tensor& x, const Tensor& angle, double fill) {
  const char* op = "rotate_forward";
  NL_CHECK(x.ndim() >= 3, op, ": x must be [N,(1,)H,W], got ", x.describe());
  check_shape(op, "y", y, x.shape());
  const int64_t N = x.dim(0), H = x.dim(x.ndim() - 2), W = x.dim(x.ndim() - 1);
  NL_CHECK(x.numel() == N * H * W, op, ": only single-channel images, got ", x.describe());
  check_shape(op, "angle", angle, {N});
  on_cpu_float(op, x, [&](auto t) {
    using T = decltype(t);
    cpu::rotate_forward<T>(y.data<T>(), x.data<T>(), angle.data<T>(), i(N), i(H), i(W), T(fill));
  });
}

}  // namespace normlab::ops
