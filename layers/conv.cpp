#include "layers/conv.h"

#include <cmath>

#include "core/device.h"
#include "kernels/conv2d.h"

namespace normlab {

Conv2d::Conv2d(int in_ch, int out_ch, int kernel, int pad, bool use_bias, Rng& rng, DType dtype)
    : pad_(pad) {
  Tensor w = Tensor::empty({out_ch, in_ch, kernel, kernel}, dtype);
  const double std = std::sqrt(2.0 / (in_ch * kernel * kernel));  // He (Kaiming) normal, fan-in
  for (int64_t i = 0; i < w.numel(); ++i) w.set(i, std * rng.normal());
  weight = make_param(w, "weight", /*decay=*/true);
  if (use_bias) bias = make_param(Tensor::zeros({out_ch}, dtype), "bias", /*decay=*/false);
}

std::string Conv2d::kind() const {
  const auto& s = weight->value.shape();
  return "Conv2d(" + std::to_string(s[1]) + "->" + std::to_string(s[0]) + ", " + std::to_string(s[2]) +
         "x" + std::to_string(s[3]) + ", pad " + std::to_string(pad_) + ")";
}

std::vector<Var> Conv2d::parameters() {
  if (bias) return {weight, bias};
  return {weight};
}

Var Conv2d::forward(const Var& x, Context& ctx) {
  const auto& xs = x->value.shape();
  const auto& ws = weight->value.shape();
  NL_CHECK(xs.size() == 4, kind(), ": input must be [N,C,H,W], got ", shape_str(xs));
  const int64_t Ho = xs[2] + 2 * pad_ - ws[2] + 1, Wo = xs[3] + 2 * pad_ - ws[3] + 1;
  NL_CHECK(Ho >= 1 && Wo >= 1, kind(), ": input ", shape_str(xs), " is smaller than the kernel");
  Var y = make_var(Tensor::empty({xs[0], ws[0], Ho, Wo}, x->value.dtype(), x->value.device()));
  ops::conv2d_forward(y->value, x->value, weight->value, bias ? bias->value : Tensor(), pad_);
  if (ctx.tape) {
    ctx.tape->record([x, y, w = weight, b = bias, pad = pad_] {
      {  // nothing before the optimizer reads dw and db: with --cuda-branches they are computed on the
         // side stream, beside the data gradient and the layers below (x and dy live until the join
         // at the end of the backward pass, in the tape's closures)
        CudaBranch branch(x->value.device() == Device::cuda && cuda_branches());
        ops::conv2d_backward_weight(w->grad, b ? &b->grad : nullptr, y->grad, x->value, pad);
      }
      if (x->requires_grad)
        add_grad(*x, [&](Tensor& dx) { ops::conv2d_backward_data(dx, y->grad, w->value, pad); });
    });
  }
  return y;
}

}  // namespace normlab
