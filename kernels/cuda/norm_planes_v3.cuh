// Version 3 of the backward pass of group norm and layer norm with a per-channel affine
// (kernels/cuda/versions.h): the affine gradients computed in the same read of dy and x as the
// input gradient's sums. Math: kernels/groupnorm.h (layer norm is G = 1).
//
// Version 2 reads dy and x three times: the segments' sums of g = dy * gamma and g * xhat, the
// element-wise dx pass, and the affine gradients, one block per channel (8-16 blocks for the
// model's layers). But every sum the backward needs is a sum over planes — a plane is one
// (sample n, channel c), HW contiguous values with one statistic (mean, rstd)[n, g(c)] — of
//   s_dy[n, c] = sum_hw dy,      s_dyx[n, c] = sum_hw dy * xhat:
//   per segment (n, g):  mean(g)        = (1/M) sum_{c in g} gamma_c * s_dy[n, c]
//                        mean(g * xhat) = (1/M) sum_{c in g} gamma_c * s_dyx[n, c]
//   per channel c:       dbeta_c  += sum_n s_dy[n, c],   dgamma_c += sum_n s_dyx[n, c]
// (gamma is constant over a plane, so it leaves the plane's sum). So:
//   plane_sums,   one warp per plane (8 planes per block, N*C warps): s_dy and s_dyx;
//   plane_finish, one thread per segment and one per channel: the two sums above, in a fixed order
//                 (channels of the group in order; samples in order);
//   seg_bwd_dx,   version 2's element-wise dx pass (norm_segment_v2.cuh).
// dy and x are read twice instead of three times, in three launches instead of four. No atomics:
// deterministic. LN's per-element affine sums over samples per element instead of per channel; it
// keeps version 2's backward.
#pragma once
#include "core/device.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/norm_segment_v2.cuh"

namespace normlab::cuda {
namespace {
constexpr int kPlanesPerBlock = kThreads / kWarp;

// part[(n * C + c) * 2 + {0, 1}] = s_dz, s_dzx of planes p0 .. p1 - 1, one warp per plane: those of
// block `block` of `blocks` blocks (the 8 warps of a block take consecutive planes; a range larger
// than the blocks' warps loops). dz(c, k, x, dy, mu, rs) is the value summed for dy at index k of
// channel c: dy itself (plane_sums) or dy * act'(z) (version 4's plane_sums_act). Its statistic is
// [n * G + c / (C / G)]. Also group and layer norm's version 7 (norm_chunks_v7.cuh).
template <class Dz>
__device__ inline void plane_sums_range(float* part, const float* dy, const float* mean, const float* rstd,
                                        const float* x, int C, int HW, int G, int64_t p0, int64_t p1, int64_t block,
                                        int64_t blocks, Dz dz) {
  const int lane = int(threadIdx.x) % kWarp;
  // Whole warps take planes (the loop's condition is the same for the 32 lanes, so the shuffles
  // below always see all of them).
  for (int64_t plane = p0 + block * kPlanesPerBlock + threadIdx.x / kWarp; plane < p1;
       plane += blocks * kPlanesPerBlock) {
    const int n = int(plane / C), c = int(plane % C), st = n * G + c / (C / G);
    const float mu = mean[st], rs = rstd[st];
    const float *d = dy + plane * HW, *xs = x + plane * HW;
    float sdz = 0.f, sdzx = 0.f;
    for (int i = lane; i < HW; i += kWarp) {
      const float g = dz(c, plane * HW + i, xs[i], d[i], mu, rs);
      sdz += g;
      sdzx += g * (xs[i] - mu) * rs;
    }
    sdz = warp_sum(sdz);
    sdzx = warp_sum(sdzx);
    if (lane == 0) {
      part[plane * 2] = sdz;
      part[plane * 2 + 1] = sdzx;
    }
  }
}
// dz for plane_sums_range of the plain op: dy itself.
struct PlainDz {
  __device__ float operator()(int, int64_t, float, float dy, float, float) const { return dy; }
};

// part[(n * C + c) * 2 + {0, 1}] = s_dy, s_dyx of plane (n, c), all N * C planes over the grid.
__global__ void plane_sums(float* part, const float* dy, const float* mean, const float* rstd, const float* x, int N,
                           int C, int HW, int G) {
  plane_sums_range(part, dy, mean, rstd, x, C, HW, G, 0, int64_t(N) * C, blockIdx.x, gridDim.x, PlainDz{});
}

// The two finishing sums, also group and layer norm's version 6 (norm_finish_v6.cuh):
// segment seg = (n, g) -> out[0], out[1] = mean(g), mean(g * xhat), channels of the group in order;
__device__ inline void plane_segment_means(float* out, const float* part, const float* gamma, int C, int HW, int G,
                                           int64_t seg) {
  const int Cg = C / G, n = int(seg / G), c0 = int(seg % G) * Cg;
  float sg = 0.f, sgx = 0.f;
  for (int c = c0; c < c0 + Cg; ++c) {
    sg += gamma[c] * part[(int64_t(n) * C + c) * 2];
    sgx += gamma[c] * part[(int64_t(n) * C + c) * 2 + 1];
  }
  const float M = float(Cg) * float(HW);
  out[0] = sg / M;
  out[1] = sgx / M;
}
// channel c -> dbeta_c, dgamma_c accumulated, samples in order.
__device__ inline void plane_channel_grads(float* dgamma, float* dbeta, const float* part, int N, int C, int c) {
  float sdy = 0.f, sdyx = 0.f;
  for (int n = 0; n < N; ++n) {
    sdy += part[(int64_t(n) * C + c) * 2];
    sdyx += part[(int64_t(n) * C + c) * 2 + 1];
  }
  dbeta[c] += sdy;
  dgamma[c] += sdyx;
}

// Items 0 .. N*G-1: segment (n, g) -> means[seg * 2 + {0, 1}] = mean(g), mean(g * xhat), as
// seg_bwd_dx reads them. Items N*G .. N*G+C-1: channel c -> dbeta_c, dgamma_c accumulated.
__global__ void plane_finish(float* means, float* dgamma, float* dbeta, const float* part, const float* gamma, int N,
                             int C, int HW, int G) {
  NL_GRID_LOOP(item, int64_t(N) * G + C) {
    if (item < int64_t(N) * G)
      plane_segment_means(means + item * 2, part, gamma, C, HW, G, item);
    else
      plane_channel_grads(dgamma, dbeta, part, N, C, int(item - int64_t(N) * G));
  }
}

// Host side: dx ASSIGNED, dgamma and dbeta ACCUMULATED, for statistics [N, G] of groups of C/G
// channels (layer norm: G = 1).
void planes_backward_v3(float* dx, float* dgamma, float* dbeta, const float* dy, const float* mean, const float* rstd,
                        const float* x, const float* gamma, int N, int C, int HW, int G) {
  const int64_t planes = int64_t(N) * C;
  float* part = static_cast<float*>(cuda_alloc(sizeof(float) * 2 * (std::size_t(planes) + std::size_t(N) * G)));
  float* means = part + 2 * planes;
  NL_LAUNCH(plane_sums, blocks_for(planes * kWarp), kThreads, 0, part, dy, mean, rstd, x, N, C, HW, G);
  NL_LAUNCH(plane_finish, blocks_for(int64_t(N) * G + C), kThreads, 0, means, dgamma, dbeta, part, gamma, N, C, HW, G);
  const Segments s = make_segments(N * G, int64_t(C / G) * HW, HW, G, C / G, false);
  NL_LAUNCH(seg_bwd_dx, blocks_for(int64_t(s.nseg) * s.M), kThreads, 0, dx, dy, mean, rstd, x, gamma, means, s);
  cuda_release(part);  // stream order: a later kernel that reuses it runs after these
}
}  // namespace
}  // namespace normlab::cuda
