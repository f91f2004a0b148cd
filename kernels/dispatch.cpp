// The dispatcher: the one place that turns Tensors into kernel calls. Each op's Tensor-level
// function is declared in its contract (kernels/<op>.h, namespace normlab::ops), next to its kernel
// signatures; its definition here checks shapes, dtypes and devices (throwing an Error that names
// the op and the shapes), then calls the kernel of the tensors' device with one argument list
// (NL_KERNEL, kernels/dispatch_impl.h): kernels/cpu/<op>.cpp for Device::cpu (float or double),
// kernels/cuda/<op>.cu for Device::cuda (float; asynchronous). All tensors of one call must be on
// one device. Layers call only these functions.
// This part: the layers' ops (conv, activations, pooling, dropout); kernels/dispatch_norm.cpp has the
// norms, kernels/dispatch_train.cpp the loss, optimizer and data ops.

#include "kernels/conv2d.h"
#include "kernels/dispatch_impl.h"
#include "kernels/dropout.h"
#include "kernels/gap.h"
#include "kernels/maxpool.h"
#include "kernels/relu.h"
#include "kernels/versions.h"
#ifdef NORMLAB_HAS_CUDA
#include "kernels/cuda/versions.h"
#endif

namespace normlab::ops {
using namespace detail;

namespace {
Conv2dShape conv_shape(const char* op, const Tensor& x, const Tensor& w, int pad) {
  check4(op, "x", x);
  check4(op, "w", w);
  NL_CHECK(w.dim(2) == w.dim(3) && (w.dim(2) == 1 || w.dim(2) == 3), op,
           ": only 1x1 and 3x3 kernels are supported, w is ", shape_str(w.shape()));
  NL_CHECK(pad == 0 || pad == 1, op, ": padding must be 0 or 1, got ", pad);
  NL_CHECK(w.dim(1) == x.dim(1), op, ": w ", shape_str(w.shape()), " expects ", w.dim(1), " input channels but x is ",
           shape_str(x.shape()));
  Conv2dShape s{i(x.dim(0)), i(x.dim(1)), i(x.dim(2)), i(x.dim(3)), i(w.dim(0)), i(w.dim(2)), pad};
  NL_CHECK(s.Ho() >= 1 && s.Wo() >= 1, op, ": input ", shape_str(x.shape()), " is smaller than the kernel");
  check_same(op, x, "x", w, "w");
  return s;
}

Shape conv_out(const Conv2dShape& s) { return {s.N, s.K, s.Ho(), s.Wo()}; }

}  // namespace

void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, int pad) {
  const auto s = conv_shape("conv2d_forward", x, w, pad);
  check_shape("conv2d_forward", "y", y, conv_out(s));
  if (b.defined()) check_shape("conv2d_forward", "b", b, {s.K});
  NL_KERNEL(conv2d_forward, "conv2d_forward", x, (&y, &w, &b), y.data<T>(), x.data<T>(), w.data<T>(),
            b.defined() ? b.data<T>() : nullptr, s);
}

void conv2d_backward_data(Tensor& dx, const Tensor& dy, const Tensor& w, int pad) {
  const auto s = conv_shape("conv2d_backward_data", dx, w, pad);
  check_shape("conv2d_backward_data", "dy", dy, conv_out(s));
  NL_KERNEL(conv2d_backward_data, "conv2d_backward_data", dy, (&dx, &w), dx.data<T>(), dy.data<T>(), w.data<T>(), s);
}

void conv2d_backward_weight(Tensor& dw, Tensor* db, const Tensor& dy, const Tensor& x, int pad) {
  const auto s = conv_shape("conv2d_backward_weight", x, dw, pad);
  check_shape("conv2d_backward_weight", "dy", dy, conv_out(s));
  if (db) check_shape("conv2d_backward_weight", "db", *db, {s.K});
  NL_KERNEL(conv2d_backward_weight, "conv2d_backward_weight", x, (&dw, db, &dy), dw.data<T>(),
            db ? db->data<T>() : nullptr, dy.data<T>(), x.data<T>(), s);
}

void relu_forward(Tensor& y, const Tensor& x) {
  check_shape("relu_forward", "y", y, x.shape());
  NL_KERNEL(relu_forward, "relu_forward", x, (&y), y.data<T>(), x.data<T>(), x.numel());
}

void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y) {
  check_shape("relu_backward", "dy", dy, y.shape());
  check_shape("relu_backward", "dx", dx, y.shape());
  NL_KERNEL(relu_backward, "relu_backward", y, (&dx, &dy), dx.data<T>(), dy.data<T>(), y.data<T>(), y.numel());
}

void maxpool2x2_forward(Tensor& y, Tensor& argmax, const Tensor& x) {
  const char* op = "maxpool2x2_forward";
  check4(op, "x", x);
  NL_CHECK(x.dim(2) >= 2 && x.dim(3) >= 2, op, ": input ", shape_str(x.shape()), " is smaller than 2x2");
  const Shape out{x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2};
  check_shape(op, "y", y, out);
  check_shape(op, "argmax", argmax, out);
  NL_CHECK(argmax.dtype() == DType::i32, op, ": argmax must be i32");
  NL_KERNEL(maxpool2x2_forward, op, x, (&y, &argmax), y.data<T>(), argmax.data<int32_t>(), x.data<T>(),
            i(x.dim(0) * x.dim(1)), i(x.dim(2)), i(x.dim(3)));
}

void maxpool2x2_backward(Tensor& dx, const Tensor& dy, const Tensor& argmax) {
  const char* op = "maxpool2x2_backward";
  check4(op, "dx", dx);
  const Shape out{dx.dim(0), dx.dim(1), dx.dim(2) / 2, dx.dim(3) / 2};
  check_shape(op, "dy", dy, out);
  check_shape(op, "argmax", argmax, out);
  NL_KERNEL(maxpool2x2_backward, op, dx, (&dy, &argmax), dx.data<T>(), dy.data<T>(), argmax.data<int32_t>(),
            i(dx.dim(0) * dx.dim(1)), i(dx.dim(2)), i(dx.dim(3)));
}


void dropout_forward(Tensor& y, const Tensor& x, double p, const MaskSeed& seed) {
  NL_CHECK(p >= 0 && p < 1, "dropout_forward: p must be in [0, 1), got ", p);
  check_shape("dropout_forward", "y", y, x.shape());
  const DropoutSeed s = mask_seed("dropout_forward", seed, x);
  NL_KERNEL(dropout_forward, "dropout_forward", x, (&y), y.data<T>(), x.data<T>(), x.numel(), T(p), s);
}

void dropout_backward(Tensor& dx, const Tensor& dy, double p, const MaskSeed& seed) {
  NL_CHECK(p >= 0 && p < 1, "dropout_backward: p must be in [0, 1), got ", p);
  check_shape("dropout_backward", "dx", dx, dy.shape());
  const DropoutSeed s = mask_seed("dropout_backward", seed, dy);
  NL_KERNEL(dropout_backward, "dropout_backward", dy, (&dx), dx.data<T>(), dy.data<T>(), dy.numel(), T(p), s);
}

void relu_dropout_forward(Tensor& y, const Tensor& x, double p, const MaskSeed& seed) {
  NL_CHECK(p >= 0 && p < 1, "relu_dropout_forward: p must be in [0, 1), got ", p);
  check_shape("relu_dropout_forward", "y", y, x.shape());
  const DropoutSeed s = mask_seed("relu_dropout_forward", seed, x);
  NL_KERNEL(relu_dropout_forward, "relu_dropout_forward", x, (&y), y.data<T>(), x.data<T>(), x.numel(), T(p), s);
}

void relu_dropout_backward(Tensor& dx, const Tensor& dy, const Tensor& y, double p) {
  const char* op = "relu_dropout_backward";
  NL_CHECK(p >= 0 && p < 1, op, ": p must be in [0, 1), got ", p);
  check_shape(op, "dy", dy, y.shape());
  check_shape(op, "dx", dx, y.shape());
  NL_KERNEL(relu_dropout_backward, op, y, (&dx, &dy), dx.data<T>(), dy.data<T>(), y.data<T>(), y.numel(), T(p));
}

void gap_forward(Tensor& y, const Tensor& x) {
  check4("gap_forward", "x", x);
  check_shape("gap_forward", "y", y, {x.dim(0), x.dim(1), 1, 1});
  NL_KERNEL(gap_forward, "gap_forward", x, (&y), y.data<T>(), x.data<T>(), i(x.dim(0) * x.dim(1)),
            i(x.dim(2) * x.dim(3)));
}

void gap_backward(Tensor& dx, const Tensor& dy) {
  check4("gap_backward", "dx", dx);
  check_shape("gap_backward", "dy", dy, {dx.dim(0), dx.dim(1), 1, 1});
  NL_KERNEL(gap_backward, "gap_backward", dy, (&dx), dx.data<T>(), dy.data<T>(), i(dx.dim(0) * dx.dim(1)),
            i(dx.dim(2) * dx.dim(3)));
}

std::string cuda_kernel_versions() {
  std::string s;
#ifdef NORMLAB_HAS_CUDA
  for (const auto& k : cuda::kernel_versions()) s += (s.empty() ? "" : ",") + k.op + "=" + std::to_string(k.selected);
#endif
  return s;
}

}  // namespace normlab::ops
