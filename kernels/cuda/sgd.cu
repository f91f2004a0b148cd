// CUDA SGD step with the L1/L2 penalty fused in, one thread per parameter (grid-stride), one launch
// for the whole model's flat buffer. Math: kernels/sgd.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/penalty.h"
#include "kernels/sgd.h"
#include "kernels/step.h"

namespace normlab::cuda {
namespace {
__global__ void sgd(float* w, float* v, const float* dw, int64_t n, int64_t n_decay, float l1, float l2,
                    const float* lr_table, const int32_t* step, float momentum, bool nesterov) {
  const float lr = lr_table[step_of(step)];
  NL_GRID_LOOP(i, n) {
    float g = dw[i];
    if (i < n_decay) g += penalty_grad(w[i], l1, l2);
    const float vi = momentum * v[i] + g;
    v[i] = vi;
    w[i] -= lr * (nesterov ? g + momentum * vi : vi);
  }
}
}  // namespace

template <>
void sgd_step<float>(float* w, float* v, const float* dw, int64_t n, int64_t n_decay, float l1, float l2,
                     const float* lr, const int32_t* step, float momentum, bool nesterov) {
  NL_LAUNCH(sgd, blocks_for(n), kThreads, 0, w, v, dw, n, n_decay, l1, l2, lr, step, momentum, nesterov);
}

}  // namespace normlab::cuda
