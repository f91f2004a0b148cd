// CUDA element-wise accumulation, one thread per element (grid-stride). Math: kernels/add.h.
#include "kernels/add.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise_macros.cuh"

namespace normlab::cuda {
namespace {
__global__ void add_k(float* a, const float* b, int64_t n) {
  NL_GRID_LOOP(i, n)
    a[i] += b[i];
}
}  // namespace

template <>
void add_inplace<float>(float* a, const float* b, int64_t n) {
  NL_LAUNCH(add_k, blocks_for(n), kThreads, 0, a, b, n);
}

}  // namespace normlab::cuda
