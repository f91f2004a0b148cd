// CUDA SGD step, one thread per parameter. Math: kernels/sgd.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/sgd.h"

namespace normlab::cuda {
namespace {
__global__ void sgd(float* w, float* v, const float* dw, int64_t n, float lr, float momentum, bool nesterov) {
  NL_GRID_LOOP(i, n) {
    const float vi = momentum * v[i] + dw[i];
    v[i] = vi;
    w[i] -= lr * (nesterov ? dw[i] + momentum * vi : vi);
  }
}
}  // namespace

template <>
void sgd_step<float>(float* w, float* v, const float* dw, int64_t n, float lr, float momentum, bool nesterov) {
  NL_LAUNCH(sgd, blocks_for(n), kThreads, 0, w, v, dw, n, lr, momentum, nesterov);
}

}  // namespace normlab::cuda
