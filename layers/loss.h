// Loss: mean negative log-likelihood of log_softmax(logits) (kernels/log_softmax_nll.h).
#pragma once
#include "layers/module.h"

namespace normlab {

struct LossResult {
  double loss = 0;  // mean over the batch
  Tensor logp;      // [N, K] log-probabilities (for predictions and confidences)
};

// Records, when ctx.tape is set, the closure that seeds d(loss)/d(logits) (dloss = 1).
LossResult nll_loss(const Var& logits, const Tensor& labels, Context& ctx);

}  // namespace normlab
