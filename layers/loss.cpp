#include "layers/loss.h"

#include "kernels/log_softmax_nll.h"
#include "kernels/metrics.h"

namespace normlab {

LossResult nll_loss(const Var& logits, const Tensor& labels, Context& ctx) {
  LossResult r;
  r.logp = Tensor::empty_like(logits->value);
  r.loss = Tensor::empty({1}, logits->value.dtype(), logits->value.device());
  ops::log_softmax_nll_forward(r.logp, r.loss, logits->value, labels);
  if (ctx.tape)
    ctx.tape->record([logits, labels, logp = r.logp] {
      add_grad(*logits, [&](Tensor& dz) { ops::log_softmax_nll_backward(dz, logp, labels, 1.0); });
    });
  return r;
}

void accumulate_metrics(Tensor& acc, const LossResult& r, const Tensor& penalty, const Tensor& labels) {
  ops::metrics_accumulate(acc, r.logp, r.loss, penalty, labels);
}

}  // namespace normlab
