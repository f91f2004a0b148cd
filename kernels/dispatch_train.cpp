// The dispatcher, second part (see kernels/dispatch.cpp): what training needs around the layers —
// the loss, autograd's gradient sums, the penalty and SGD update, the data path (gather,
// rotation, epoch metrics) and the step counter.
#include "kernels/add.h"
#include "kernels/dispatch_impl.h"
#include "kernels/gather.h"
#include "kernels/log_softmax_nll.h"
#include "kernels/metrics.h"
#include "kernels/penalty.h"
#include "kernels/rotate.h"
#include "kernels/sgd.h"
#include "kernels/step.h"

namespace normlab::ops {
using namespace detail;

void add_inplace(Tensor& a, const Tensor& b) {
  check_same("add", a, "a", b, "b");
  check_shape("add", "b", b, a.shape());
  NL_KERNEL(add_inplace, "add", a, (&b), a.data<T>(), b.data<T>(), a.numel());
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
  NL_KERNEL(log_softmax_nll_forward, op, z, (&logp, &loss, &labels), logp.data<T>(), loss.data<T>(), z.data<T>(),
            labels.data<int32_t>(), i(z.dim(0)), i(z.dim(1)));
}

void log_softmax_nll_backward(Tensor& dz, const Tensor& logp, const Tensor& labels, double dloss) {
  const char* op = "log_softmax_nll_backward";
  check_labels(op, logp, labels);
  check_shape(op, "dz", dz, logp.shape());
  NL_KERNEL(log_softmax_nll_backward, op, logp, (&dz, &labels), dz.data<T>(), logp.data<T>(), labels.data<int32_t>(),
            T(dloss), i(logp.dim(0)), i(logp.dim(1)));
}

void penalty_forward(Tensor& value, int64_t slot, const Tensor& w, double l1, double l2) {
  NL_CHECK(value.ndim() == 1 && slot >= 0 && slot < value.numel(), "penalty_forward: slot ", slot, " of ",
           value.describe());
  check_same("penalty_forward", w, "w", value, "value");
  NL_KERNEL(penalty_forward, "penalty_forward", w, (&value), value.data<T>() + slot, w.data<T>(), w.numel(), T(l1),
            T(l2));
}

void penalty_forward_segments(Tensor& value, const Tensor& w, const std::vector<int64_t>& begin, double l1,
                              double l2) {
  const char* op = "penalty_forward_segments";
  const int64_t P = begin.empty() ? 0 : int64_t(begin.size()) - 1;
  NL_CHECK(value.ndim() == 1 && P <= value.numel(), op, ": ", P, " segments into ", value.describe());
  NL_CHECK(w.defined() && w.ndim() == 1, op, ": w must be 1-d, got ", w.describe());
  check_same(op, w, "w", value, "value");
  for (int64_t p = 0; p < P; ++p)
    NL_CHECK(0 <= begin[p] && begin[p] <= begin[p + 1] && begin[p + 1] <= w.numel(), op, ": segment ", p, " [",
             begin[p], ", ", begin[p + 1], ") is not within w's ", w.numel(), " elements in order");
  for (int64_t p0 = 0; p0 < P; p0 += kMaxPenaltySegments) {  // launches of at most kMaxPenaltySegments
    PenaltySegments seg{};
    seg.count = int(P - p0 < kMaxPenaltySegments ? P - p0 : kMaxPenaltySegments);
    for (int k = 0; k <= seg.count; ++k) seg.begin[k] = begin[p0 + k];
    NL_KERNEL(penalty_forward_segments, op, w, (&value), value.data<T>() + p0, w.data<T>(), seg, T(l1), T(l2));
  }
}

void penalty_backward(Tensor& dw, const Tensor& w, double l1, double l2) {
  check_shape("penalty_backward", "dw", dw, w.shape());
  NL_KERNEL(penalty_backward, "penalty_backward", w, (&dw), dw.data<T>(), w.data<T>(), w.numel(), T(l1), T(l2));
}

void step_advance(Tensor& step) {
  const int32_t* p = step_ptr("step_advance", step, step);
  NL_CHECK(p, "step_advance: undefined step counter");
  if (step.device() == Device::cpu) return cpu::step_advance(step.data<int32_t>());
#ifdef NORMLAB_HAS_CUDA
  cuda::step_advance(step.data<int32_t>());
#endif
}

Tensor make_step(int64_t s, int64_t b, Device device) {
  NL_CHECK(s >= 0 && s < (int64_t{1} << 31) && b >= 0 && b < (int64_t{1} << 31), "make_step: step ", s, ", batch ", b,
           " outside int32");
  return Tensor::from({2}, {double(s), double(b)}, DType::i32).to_device(device);
}

void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, int64_t n_decay, double l1, double l2, const Tensor& lr,
              const Tensor& step, double momentum, bool nesterov) {
  check_shape("sgd_step", "v", v, w.shape());
  check_shape("sgd_step", "dw", dw, w.shape());
  NL_CHECK(n_decay >= 0 && n_decay <= w.numel(), "sgd_step: n_decay ", n_decay, " outside [0, ", w.numel(), "]");
  NL_CHECK(lr.defined() && lr.ndim() == 1 && lr.numel() >= 1 && lr.dtype() == w.dtype(), "sgd_step: lr must be a [S] ",
           dtype_name(w.dtype()), " tensor of learning rates, got ", lr.defined() ? lr.describe() : "undefined");
  const int32_t* s = step_ptr("sgd_step", step, w);
  NL_KERNEL(sgd_step, "sgd_step", w, (&v, &dw, &lr), w.data<T>(), v.data<T>(), dw.data<T>(), w.numel(), n_decay, T(l1),
            T(l2), lr.data<T>(), s, T(momentum), nesterov);
}

void sgd_step(Tensor& w, Tensor& v, const Tensor& dw, int64_t n_decay, double l1, double l2, double lr, double momentum,
              bool nesterov) {
  const Tensor rate = Tensor::from({1}, {lr}, w.dtype()).to_device(w.device());
  sgd_step(w, v, dw, n_decay, l1, l2, rate, Tensor(), momentum, nesterov);
}

namespace {
// The step counter of an op that reads batch rows of `table` (the epoch's order or angles): with a
// counter, table holds the whole epoch and a batch is at most `batch` rows; without, it is the n rows.
const int32_t* batch_rows(const char* op, const char* name, const Tensor& table, int64_t n, const Tensor& step,
                          int64_t batch, const Tensor& data) {
  const int32_t* s = step_ptr(op, step, data);
  if (s)
    NL_CHECK(table.ndim() == 1 && table.numel() >= n && batch >= n, op, ": with a step counter, ", name,
             " must hold the whole epoch and the batch (", batch, ") at least the ", n, " rows");
  else
    check_shape(op, name, table, {n});
  return s;
}
}  // namespace

void rotate_forward(Tensor& y, const Tensor& x, const Tensor& angle, double fill, const Tensor& step, int64_t batch) {
  const char* op = "rotate_forward";
  NL_CHECK(x.ndim() >= 3, op, ": x must be [N,(1,)H,W], got ", x.describe());
  check_shape(op, "y", y, x.shape());
  const int64_t N = x.dim(0), H = x.dim(x.ndim() - 2), W = x.dim(x.ndim() - 1);
  NL_CHECK(x.numel() == N * H * W, op, ": only single-channel images, got ", x.describe());
  const int32_t* s = batch_rows(op, "angle", angle, N, step, batch, x);
  NL_KERNEL(rotate_forward, op, x, (&y, &angle), y.data<T>(), x.data<T>(), angle.data<T>(), s, batch, i(N), i(H), i(W),
            T(fill));
}

void gather_rows(Tensor& y, Tensor& y_labels, const Tensor& x, const Tensor& labels, const Tensor& idx,
                 const Tensor& step, int64_t batch) {
  const char* op = "gather_rows";
  NL_CHECK(x.ndim() >= 1 && y.ndim() == x.ndim(), op, ": x ", x.describe(), " and y ", y.describe(),
           " must have the same rank");
  const int64_t B = y.dim(0), M = x.dim(0), row = M ? x.numel() / M : 0;
  NL_CHECK(y.numel() == B * row, op, ": y ", y.describe(), " does not hold ", B, " rows of x ", x.describe());
  check_shape(op, "labels", labels, {M});
  check_shape(op, "y_labels", y_labels, {B});
  const int32_t* s = batch_rows(op, "idx", idx, B, step, batch, x);
  NL_CHECK(labels.dtype() == DType::i32 && y_labels.dtype() == DType::i32 && idx.dtype() == DType::i32, op,
           ": labels and idx must be i32");
  check_same(op, x, "x", y, "y");
  NL_KERNEL(gather_rows, op, x, (&y, &y_labels, &labels, &idx), y.data<T>(), y_labels.data<int32_t>(), x.data<T>(),
            labels.data<int32_t>(), idx.data<int32_t>(), s, batch, i(B), i(row));
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
  NL_KERNEL(metrics_accumulate, op, logp, (&acc, &loss, &penalty, &labels), acc.data<double>(), logp.data<T>(),
            loss.data<T>(), P ? penalty.data<T>() : nullptr, P, labels.data<int32_t>(), i(logp.dim(0)), i(logp.dim(1)));
}

}  // namespace normlab::ops
