// Host side of the chunked versions — batch norm's 8 (kernels/cuda/batchnorm_v8.cu, chunks of
// channels) and group and layer norm's 7 (kernels/cuda/norm_chunks_v7.cuh, chunks of segments): how
// many items a chunk takes so that what L2 must hold between a chunk's two reads fits in it, and the
// launches of the pipeline, chunk j's partial sums beside chunk j - 1's element-wise pass.
#pragma once
#include <algorithm>
#include <cstddef>

#include "core/device.h"
#include "kernels/cuda/versions.h"

namespace normlab::cuda {

// The most items of which `bytes_per_item` each fit in the L2 plan (l2_plan_bytes, the device's L2
// where none is set): at least 1, at most `items`.
inline int l2_chunk_items(int items, double bytes_per_item) {
  const std::size_t plan = l2_plan_bytes() ? l2_plan_bytes() : cuda_l2_bytes();
  return int(std::clamp(double(plan) / bytes_per_item, 1.0, double(items)));
}

// Launch j = 0..chunks of items cut into chunks of `per`: launch(red0, nred, app0, napp), the partial
// sums of items [red0, red0 + nred) (chunk j; none in the last launch) and the element-wise pass of
// items [app0, app0 + napp) (chunk j - 1; none in the first, where app0 = 0).
template <class Launch>
void chunk_pipeline(int items, int per, Launch launch) {
  const int chunks = (items + per - 1) / per;
  for (int j = 0; j <= chunks; ++j) {
    const int red0 = j * per, nred = j < chunks ? std::min(per, items - red0) : 0;
    const int app0 = j > 0 ? (j - 1) * per : 0, napp = j > 0 ? std::min(per, items - app0) : 0;
    launch(red0, nred, app0, napp);
  }
}

}  // namespace normlab::cuda
