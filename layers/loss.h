// Loss: mean negative log-likelihood of log_softmax(logits) (kernels/log_softmax_nll.h).
#pragma once
#include "layers/module.h"

namespace normlab {

struct LossResult {
  Tensor loss;  // [1] mean over the batch, on the logits' device (no wait for the GPU)
  Tensor logp;  // [N, K] log-probabilities (for predictions and confidences)
  double value() const { return loss.to_vector()[0]; }  // reads it back (waits for the GPU)
};

// Records, when ctx.tape is set, the closure that seeds d(loss)/d(logits) (dloss = 1).
LossResult nll_loss(const Var& logits, const Tensor& labels, Context& ctx);

// The epoch's running sums, on the loss's device (no wait for the GPU): acc f64 [2] +=
// {(loss + sum of penalty terms) * N, correct predictions}; penalty [P] or undefined (kernels/metrics.h).
void accumulate_metrics(Tensor& acc, const LossResult& r, const Tensor& penalty, const Tensor& labels);

}  // namespace normlab
