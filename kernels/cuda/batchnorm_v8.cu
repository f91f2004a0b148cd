// CUDA batch norm, version 8 (kernels/cuda/versions.h): version 7's blocks in a pipeline of channel
// chunks, so that the element-wise pass re-reads x (and dy) from L2, not DRAM. Math:
// kernels/batchnorm.h (forward: mean, rstd = 1/sqrt(var + eps) per channel, y = act(gamma xhat + beta);
// backward: dgamma += sum dz xhat, dbeta += sum dz, dx = gamma rstd (dz - mean(dz) - xhat mean(dz xhat))).
//
// Why. Versions 5 and 7 read each tensor twice: the partial sums, then the element-wise pass. On a
// tensor larger than L2 (N=256, C=64, 56x56: 205 MB a tensor, against 50 MB of L2 on an H100) the
// second read comes from DRAM too: 3 tensor passes forward (x, x, y) and 5 backward (dy, x, dy, x,
// dx) where 2 and 3 would do. Run 4 measured version 5 at 52% of the copy bandwidth there
// (docs/results-gpu.md); 8 passes of 5 cap it at 62.5%.
//
// How. The channels are cut into chunks of cc channels; chunk j is channels [j cc, j cc + cc).
// Launch j runs, side by side on one grid, the partial sums of chunk j (bn::stats_partial_block:
// its x comes from DRAM and stays in L2) and the element-wise pass of chunk j - 1, its finishing
// folded in as in version 7 (bn::apply_finish_block: x read again, from L2 if it stayed there):
// chunks + 1 launches each way, the first with partial sums only, the last with a pass only. No
// block waits for another block of its launch (version 6's did, and was slower than version 5):
// the launches' order on the stream is the only dependency, so the emulator runs it as a GPU does.
// cc is the most channels for which kResident tensors' worth of a chunk fit in the L2 plan
// (l2_plan_bytes, the device's L2 by default): what L2 must hold between a chunk's two reads —
// its inputs, the next chunk's inputs read meanwhile and the outputs written meanwhile. Where the
// whole tensor is one chunk (every layer of the model at batch 128) this is version 7: two
// launches each way. On an H100's 50 MB at 56x56: 5 channels a chunk forward, 3 backward.
//
// Ranges: version 6's (bn::ranges_v6: version 5's, capped at 4,096 values), so that a launch of a
// few channels still fills the GPU (at 56x56: one plane per block, 256 blocks per channel, where
// version 5's ranges give 16). The sums and expressions are version 7's, from the same functions:
// version 5's bits where the ranges are version 5's (every shape of the model), version 6's where
// they are capped, and the chunk size never changes a bit (it only picks the launch of a block).
#include "kernels/cuda/batchnorm_parts.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/l2_chunks.cuh"
#include "kernels/cuda/vec4.cuh"

namespace normlab::cuda::bn {
namespace {
// Tensors' worth of a chunk that L2 must hold at once: forward x of chunks j - 1 and j, y of j - 1;
// backward dy and x of both, dx of j - 1.
constexpr int kFwdResident = 3;
constexpr int kBwdResident = 5;

// Launch j's blocks (b, r): b < nred the partial sums of channel red0 + b, else the element-wise pass
// of channel app0 + b - nred; r the range.
template <bool kAct>
__global__ void bn_forward_v8(float* y, float* mean, float* rstd, float* rmean, float* rvar, float* part,
                              const float* x, const float* gamma, const float* beta, int N, int C, int HW, Split rg,
                              float eps, float momentum, ActK act, bool quads, int red0, int nred, int app0) {
  const int b = int(blockIdx.x), r = int(blockIdx.y);
  if (b < nred)
    stats_partial_block(part, x, red0 + b, r, N, C, HW, int(rg.per));
  else
    apply_finish_block<kAct>(y, mean, rstd, rmean, rvar, x, part, gamma, beta, app0 + b - nred, r, N, C, HW, rg, eps,
                             momentum, act, quads);
}

template <bool kAct>
__global__ void bn_backward_v8(float* dx, float* dgamma, float* dbeta, float* part, const float* dy, const float* x,
                               const float* mean, const float* rstd, const float* gamma, const float* beta, int N,
                               int C, int HW, Split rg, ActK act, bool quads, int red0, int nred, int app0) {
  const int b = int(blockIdx.x), r = int(blockIdx.y);
  if (b < nred)
    bwd_partial_block<kAct>(part, dy, mean, rstd, x, gamma, beta, red0 + b, r, N, C, HW, int(rg.per), act);
  else
    bwd_dx_finish_block<kAct>(dx, dgamma, dbeta, dy, x, part, mean, rstd, gamma, beta, app0 + b - nred, r, N, C, HW,
                              rg, act, quads);
}

// Channels per chunk: the most of which `resident` tensors' worth fit in the L2 plan.
int chunk_channels(int N, int C, int HW, int resident) {
  return l2_chunk_items(C, double(N) * double(HW) * sizeof(float) * resident);
}
}  // namespace

void forward_v8(float* y, float* mean, float* rstd, float* rmean, float* rvar, const float* x, const float* gamma,
                const float* beta, int N, int C, int HW, float eps, float momentum, const Activation<float>* act) {
  const Split rg = ranges_v6(N, C, HW);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * std::size_t(rg.count) * C * 2));
  const ActK a = act ? act_k(*act) : ActK{};
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, y, x);
  chunk_pipeline(C, chunk_channels(N, C, HW, kFwdResident), [&](int red0, int nred, int app0, int napp) {
    const dim3 grid(unsigned(nred + napp), unsigned(rg.count));
    if (act)
      NL_LAUNCH(bn_forward_v8<true>, grid, kThreads, 0, y, mean, rstd, rmean, rvar, part, x, gamma, beta, N, C, HW, rg,
                eps, momentum, a, quads, red0, nred, app0);
    else
      NL_LAUNCH(bn_forward_v8<false>, grid, kThreads, 0, y, mean, rstd, rmean, rvar, part, x, gamma, beta, N, C, HW, rg,
                eps, momentum, a, quads, red0, nred, app0);
  });
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}

void backward_v8(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                 const float* x, const float* gamma, const float* beta, int N, int C, int HW,
                 const Activation<float>* act) {
  const Split rg = ranges_v6(N, C, HW);
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * std::size_t(rg.count) * C * 2));
  const ActK a = act ? act_k(*act) : ActK{};
  const bool quads = vec4_ok(int64_t(N) * C * HW, HW, dx, dy, x);
  chunk_pipeline(C, chunk_channels(N, C, HW, kBwdResident), [&](int red0, int nred, int app0, int napp) {
    const dim3 grid(unsigned(nred + napp), unsigned(rg.count));
    if (act)
      NL_LAUNCH(bn_backward_v8<true>, grid, kThreads, 0, dx, dgamma, dbeta, part, dy, x, mean, rstd, gamma, beta, N, C,
                HW, rg, a, quads, red0, nred, app0);
    else
      NL_LAUNCH(bn_backward_v8<false>, grid, kThreads, 0, dx, dgamma, dbeta, part, dy, x, mean, rstd, gamma, beta, N, C,
                HW, rg, a, quads, red0, nred, app0);
  });
  cuda_release(part);
}

}  // namespace normlab::cuda::bn
