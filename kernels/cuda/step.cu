// CUDA step counter: one thread, the last launch of a training step. Math: kernels/step.h.
#include "kernels/cuda/common.cuh"
#include "kernels/step.h"

namespace normlab::cuda {
namespace {
__global__ void step_advance_k(int32_t* step) {
  ++step[0];
  ++step[1];
}
}  // namespace

void step_advance(int32_t* step) { NL_LAUNCH(step_advance_k, 1, 1, 0, step); }

}  // namespace normlab::cuda
