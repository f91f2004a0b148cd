// CUDA mini-batch gather: one thread per output value; the label by the first column's thread.
// Math: kernels/gather.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"
#include "kernels/gather.h"
#include "kernels/step.h"

namespace normlab::cuda {
namespace {
__global__ void gather_k(float* y, int32_t* y_labels, const float* x, const int32_t* labels, const int32_t* order,
                         const int32_t* step, int64_t batch, int B, int row) {
  const int32_t* idx = order + step_rows(step, batch);
  NL_GRID_LOOP(e, int64_t(B) * row) {
    const int b = int(e / row), c = int(e % row);
    const int64_t k = idx[b];
    y[e] = x[k * row + c];
    if (c == 0) y_labels[b] = labels[k];
  }
}
}  // namespace

template <>
void gather_rows<float>(float* y, int32_t* y_labels, const float* x, const int32_t* labels, const int32_t* idx,
                        const int32_t* step, int64_t batch, int B, int row) {
  NL_LAUNCH(gather_k, blocks_for(int64_t(B) * row), kThreads, 0, y, y_labels, x, labels, idx, step, batch, B, row);
}

}  // namespace normlab::cuda
