// The dispatcher, second part (see kernels/dispatch.h): what training needs around the layers —
// the loss, autograd's gradient sums, the penalty and SGD update, and the data path (gather,
// rotation, epoch metrics).
#include "kernels/add.h"
#include "kernels/dispatch.h"
#include "kernels/dispatch_impl.h"
#include "kernels/gather.h"
#include "kernels/log_softmax_nll.h"
#include "kernels/metrics.h"
#include "kernels/penalty.h"
#include "kernels/rotate.h"
#include "kernels/sgd.h"

namespace normlab::ops {
using namespace detail;

void add_inplace(Tensor& a, const Tensor& b) {
  check_same("add", a, "a", b, "b");
  check_shape("add", "b", b, a.shape());
  run(
      "add", a, {&b},
      [&](auto t) {
        using T = decltype(t);
        cpu::add_inplace<T>(a.data<T>(), b.data<T>(), a.numel());
      },
      [&] { NL_CUDA(cuda::add_inplace<float>(a.data<float>(), b.data<float>(), a.numel())); });
}

namespace {
void check_labels(const char* op, const Tensor& z, const Tensor& labels) {
  NL_CHECK(z.ndim() == 2, op, ": logits must be [N,K], got ", z.describe());
  check_shape(op, "labels", labels, {z.dim(0)});
  NL_CHECK(labels.dtype() == DType::i32, op, ": labels must be i32");
  // CUDA labels are not read back here (that would wait for the GPU every step): they come from a
  // dataset whose labels load_mnist has already checked, through gather_rows.
  if (labels.device() != Device::cpu) return;
  const int32_t* l = labels.data<int32_t>();
  for (int64_t k = 0; k < labels.numel(); ++k)
    NL_CHECK(l[k] >= 0 && l[k] < z.dim(1), op, ": label ", l[k], " at ", k, " is outside 0..", z.dim(1) - 1);
}
}  // namespace

void log_softmax_nll_forward(Tensor& logp, Tensor& loss, const Tensor& z, const Tensor& labels) {
  const char* op = "log_softmax_nll_forward";
  check_labels(op, z, labels);
  check_shape(op, "logp", logp, z.shape());
  check_shape(op, "loss", loss, {1});
  check_same(op, z, "z", loss, "loss");
  run(
      op, z, {&logp, &loss, &labels},
      [&](auto t) {
        using T = decltype(t);
        cpu::log_softmax_nll_forward<T>(logp.data<T>(), loss.data<T>(), z.data<T>(), labels.data<int32_t>(),
                                        i(z.dim(0)), i(z.dim(1)));
      },
      [&] {
        NL_CUDA(cuda::log_softmax_nll_forward<float>(logp.data<float>(), loss.data<float>(), z.data<float>(),
                                                     labels.data<int32_t>(), i(z.dim(0)), i(z.dim(1))));
      });
}

double log_softmax_nll_forward(Tensor& logp, const Tensor& z, const Tensor& labels) {
  Tensor loss = Tensor::empty({1}, z.dtype(), z.device());
  log_softmax_nll_forward(logp, loss, z, labels);
  return loss.to_vector()[0];
}

void log_softmax_nll_backward(Tensor& dz, const Tensor& logp, const Tensor& labels, double dloss) {
  const char* op = "log_softmax_nll_backward";
  check_labels(op, logp, labels);
  check_shape(op, "dz", dz, logp.shape());
  run(
      op, logp, {&dz, &labels},
      [&](auto t) {
        using T = decltype(t);
        cpu::log_softmax_nll_backward<T>(dz.data<T>(), logp.data<T>(), labels.data<int32_t>(), T(dloss), i(logp.dim(0)),
                                         i(logp.dim(1)));
      },
      [&] {
        NL_CUDA(cuda::log_softmax_nll_backward<float>(dz.data<float>(), logp.data<float>(), labels.data<int32_t>(),
                                                      float(dloss), i(logp.dim(0)), i(logp.dim(1))));
      });
}

void penalty_forward(Tensor& value, int64_t slot, const Tensor& w, double l1, double l2) {
  NL_CHECK(value.ndim() == 1 && slot >= 0 && slot < value.numel(), "penalty_forward: slot ", slot, " of ",
           value.describe());
  check_same("penalty_forward", w, "w", value, "value");
  run(
      "penalty_forward", w, {&value},
      [&](auto t) {
        using T = decltype(t);
        cpu::penalty_forward<T>(value.data<T>() + slot, w.data<T>(), w.numel(), T(l1), T(l2));
      },
      [&] {
        NL_CUDA(
            cuda::penalty_forward<float>(value.data<float>() + slot, w.data<float>(), w.numel(), float(l1), float(l2)));
      });
}

double penalty_forward(const Tensor& w, double l1, double l2) {
  Tensor value = Tensor::zeros({1}, w.dtype(), w.device());
  penalty_forward(value, 0, w, l1, l2);
  return value.to_vector()[0];
}

void penalty_backward(Tensor& dw, const Tensor& w, double l1, double l2) {
  check_shape("penalty_backward", "dw", dw, w.shape());
  run(
      "penalty_backward", w, {&dw},
      [&](auto t) {
        using T = decltype(t);
        cpu::penalty_backward<T>(dw.data<T>(), w.data<T>(), w.numel(), T(l1), T(l2));
      },
      [&] {
        NL_CUDA(cuda::penalty_backward<float>(dw.data<float>(), w.data<float>(), w.numel(), float(l1), float(l2)));
      });
}

void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, double lr, double momentum, bool nesterov) {
  check_shape("sgd_step", "v", v, w.shape());
  check_shape("sgd_step", "dw", dw, w.shape());
  run(
      "sgd_step", w, {&v, &dw},
      [&](auto t) {
        using T = decltype(t);
        cpu::sgd_step<T>(w.data<T>(), v.data<T>(), dw.data<T>(), w.numel(), T(lr), T(momentum), nesterov);
      },
      [&] {
        NL_CUDA(cuda::sgd_step<float>(w.data<float>(), v.data<float>(), dw.data<float>(), w.numel(), float(lr),
                                      float(momentum), nesterov));
      });
}

void rotate_forward(Tensor& y, const Tensor& x, const Tensor& angle, double fill) {
  const char* op = "rotate_forward";
  NL_CHECK(x.ndim() >= 3, op, ": x must be [N,(1,)H,W], got ", x.describe());
  check_shape(op, "y", y, x.shape());
  const int64_t N = x.dim(0), H = x.dim(x.ndim() - 2), W = x.dim(x.ndim() - 1);
  NL_CHECK(x.numel() == N * H * W, op, ": only single-channel images, got ", x.describe());
  check_shape(op, "angle", angle, {N});
  run(
      op, x, {&y, &angle},
      [&](auto t) {
        using T = decltype(t);
        cpu::rotate_forward<T>(y.data<T>(), x.data<T>(), angle.data<T>(), i(N), i(H), i(W), T(fill));
      },
      [&] {
        NL_CUDA(cuda::rotate_forward<float>(y.data<float>(), x.data<float>(), angle.data<float>(), i(N), i(H), i(W),
                                            float(fill)));
      });
}

void gather_rows(Tensor& y, Tensor& y_labels, const Tensor& x, const Tensor& labels, const Tensor& idx) {
  const char* op = "gather_rows";
  NL_CHECK(x.ndim() >= 1 && y.ndim() == x.ndim(), op, ": x ", x.describe(), " and y ", y.describe(),
           " must have the same rank");
  const int64_t B = y.dim(0), M = x.dim(0), row = M ? x.numel() / M : 0;
  NL_CHECK(y.numel() == B * row, op, ": y ", y.describe(), " does not hold ", B, " rows of x ", x.describe());
  check_shape(op, "labels", labels, {M});
  check_shape(op, "y_labels", y_labels, {B});
  check_shape(op, "idx", idx, {B});
  NL_CHECK(labels.dtype() == DType::i32 && y_labels.dtype() == DType::i32 && idx.dtype() == DType::i32, op,
           ": labels and idx must be i32");
  check_same(op, x, "x", y, "y");
  run(
      op, x, {&y, &y_labels, &labels, &idx},
      [&](auto t) {
        using T = decltype(t);
        cpu::gather_rows<T>(y.data<T>(), y_labels.data<int32_t>(), x.data<T>(), labels.data<int32_t>(),
                            idx.data<int32_t>(), i(B), i(row));
      },
      [&] {
        NL_CUDA(cuda::gather_rows<float>(y.data<float>(), y_labels.data<int32_t>(), x.data<float>(),
                                         labels.data<int32_t>(), idx.data<int32_t>(), i(B), i(row)));
      });
}

void metrics_accumulate(Tensor& acc, const Tensor& logp, const Tensor& loss, const Tensor& penalty,
                        const Tensor& labels) {
  const char* op = "metrics_accumulate";
  check_labels(op, logp, labels);
  check_shape(op, "acc", acc, {2});
  NL_CHECK(acc.dtype() == DType::f64, op, ": acc must be f64");
  check_shape(op, "loss", loss, {1});
  check_same(op, logp, "logp", loss, "loss");
  if (penalty.defined()) {
    NL_CHECK(penalty.ndim() == 1, op, ": penalty must be 1-d, got ", penalty.describe());
    check_same(op, logp, "logp", penalty, "penalty");
  }
  const int P = penalty.defined() ? i(penalty.numel()) : 0;
  run(
      op, logp, {&acc, &loss, &penalty, &labels},
      [&](auto t) {
        using T = decltype(t);
        cpu::metrics_accumulate<T>(acc.data<double>(), logp.data<T>(), loss.data<T>(), P ? penalty.data<T>() : nullptr,
                                   P, labels.data<int32_t>(), i(logp.dim(0)), i(logp.dim(1)));
      },
      [&] {
        NL_CUDA(cuda::metrics_accumulate<float>(acc.data<double>(), logp.data<float>(), loss.data<float>(),
                                                P ? penalty.data<float>() : nullptr, P, labels.data<int32_t>(),
                                                i(logp.dim(0)), i(logp.dim(1))));
      });
}

}  // namespace normlab::ops
