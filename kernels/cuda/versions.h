// Numbered versions of the CUDA kernels, as llm.c's dev/cuda keeps them: version 1 of an op is the
// plain kernel, kept so that a reader can follow the steps; higher numbers are faster designs of
// the same contract (kernels/<op>.h), checked against the CPU by the same parity tests. An op runs
// its default version — the newest, except batch norm's version 6 (slower than 5 on a GPU) and
// the versions never run on a GPU yet: batch norm's 7, 8 and 9, conv2d's 4 and 5, group and layer norm's
// 6, 7 and 8 (below) — unless set_kernel_version picks another (tests/test_cuda.cpp runs every version;
// apps/bench_kernels times every version side by side) or the environment variable
// NORMLAB_CUDA_VERSIONS="op=v,..." (e.g. "batchnorm=3") selects it for a whole process, such as
// a training run timed on an older version.
//
//   op       versions
//   conv2d   1: one thread per output (forward, data gradient) / one block per weight (weight
//               gradient), every index computed with 64-bit divides
//            2: register-tiled: a block stages an input patch of 8 input channels and their weights
//               in shared memory, each thread keeps 8 output channels' sums in registers; the data
//               gradient is the same kernel with the weights transposed and turned by 180 degrees;
//               the weight gradient is split over the batch (one block per (k, c, image range), all
//               taps at once) and the partial sums are added in a fixed order by a second kernel.
//            3: version 2's forward and data gradient; the weight gradient as a small GEMM per block:
//               a tile of 8 x 8 (k, c) pairs over a range of images, dy and x staged in shared
//               memory band by band and read from global memory once per channel tile, not once
//               per (k, c); the same fixed-order second kernel.
//            4: version 3's weight gradient; the forward and data gradient with one thread per
//               output position of the whole batch (the positions of all images one flat range,
//               so no thread is idle, where version 2's 8 x 16 tile leaves most of its threads
//               without an output on the model's small maps) and 1-8 output channels each (from
//               the shape), the block's weights in shared memory, inputs read through L1, 32-bit
//               indices. Version 2's sums in its order: its bits. Not the default until a GPU has
//               timed it (NORMLAB_CUDA_VERSIONS=conv2d=4)
//            5: version 4's forward and data gradient; the weight gradient by shape, the version
//               run 4 timed fastest there: version 1's (one block per weight, one launch) where the
//               output is 1 x 1 (the head), version 2's where fewer than 8 input channels (the first
//               layer), version 3's elsewhere; each version's bits on its shapes. Not the default
//               until a GPU has timed it (NORMLAB_CUDA_VERSIONS=conv2d=5)
//   batchnorm 1: one block per channel (8-16 blocks for the model's layers)
//            2: two-stage reductions over about 1024 blocks (channel x range of samples), combined
//               per channel in a fixed order; element-wise normalization and dx passes
//            3: version 2 with the second stage on one warp per channel instead of one thread
//               (its partials read side by side, then added in a fixed butterfly)
//            4: version 3 with the activation after the norm (ReLU, dropout; batchnorm_act_*)
//               fused into its element-wise and partial-sum passes; the plain ops are version 3's
//            5: version 4 with its element-wise passes on quads: four values of one plane per
//               thread, float4 loads and stores, the channel found once per quad in 32 bits
//               (kernels/cuda/vec4.cuh); version 4's kernels where HW % 4 != 0 or a pointer is not
//               16-byte aligned. Version 4's bits; the plain ops are version 3's on quads (its bits)
//            6: each direction in one kernel (kernels/cuda/batchnorm_v6.cu, pipeline.cuh): a
//               persistent grid takes the channels' range reductions and element-wise passes in a
//               fixed ticket order, the last block of a channel's reductions finishes it (warp, as
//               version 3), and a channel's passes follow a few channels behind, so they re-read x
//               (and dy) from L2, not DRAM; the plain and *_act ops alike. Version 5's bits on the
//               model's shapes (its ranges; a range is capped at 4,096 values, which only larger
//               planes reach). Not the default: correct on an H200, but slower than version 5
//               everywhere (select it with NORMLAB_CUDA_VERSIONS=batchnorm=6)
//            7: version 5 with each finishing stage folded into the element-wise pass after it:
//               that pass runs a block per (channel, range), whose first warp combines the
//               channel's partials as version 5's finishing warp does; block (c, 0) writes the
//               statistics or dgamma/dbeta. Two kernels each way instead of three; version 5's
//               bits. Not the default until a GPU has timed it (NORMLAB_CUDA_VERSIONS=batchnorm=7)
//            8: version 7's blocks in a pipeline of channel chunks (kernels/cuda/batchnorm_v8.cu):
//               launch j runs chunk j's partial sums beside chunk j - 1's element-wise pass, so
//               the pass re-reads x (and dy) from L2 where a tensor exceeds it; chunks sized so
//               that a chunk's tensors fit in L2 (set_l2_plan_bytes below). Version 6's ranges
//               (version 5's on the model's shapes, so version 5's bits there); one chunk, two
//               launches each way, on every shape whose tensors fit in L2. Not the default until
//               a GPU has timed it (NORMLAB_CUDA_VERSIONS=batchnorm=8)
//            9: version 5, but a channel of at most 16,384 values (the model's layers from 10 x 10
//               down at batch 128) is one block, one launch each way: its values held in registers
//               (4-16 a thread), an exact two-pass variance, dgamma/dbeta added by the block that
//               owns the channel (kernels/cuda/batchnorm_v9.cu). Other bits than version 5's on
//               those layers (another order of the sums), version 5's elsewhere. Not the default
//               until a GPU has timed it (NORMLAB_CUDA_VERSIONS=batchnorm=9)
//   groupnorm, layernorm
//            1: one block per (sample, group) / per sample (kernels/cuda/norm_segment.cuh)
//            2: each of those segments reduced by several blocks (about 1024 in all), combined in a
//               fixed order; element-wise normalization and dx passes (norm_segment_v2.cuh). The
//               affine gradients are version 1's in both.
//            3: version 2's forward; the backward's segment sums and the affine gradients from one
//               pass of one warp per (sample, channel) plane, dy and x read twice instead of three
//               times (norm_planes_v3.cuh); LN's per-element affine keeps version 2's backward.
//            4: version 3 with the activation after the norm fused in (groupnorm_act_*,
//               layernorm_act_*; norm_act_v4.cuh); the plain ops are version 3's. Versions 1-3 run
//               the *_act ops as the norm, then the activation's own kernels (activation.cuh).
//            5: version 4 with its element-wise passes on quads, as batch norm's version 5
//               (norm_act_v4.cuh: seg_apply_v5, seg_bwd_dx_v5), the plain ops too (LN's
//               per-element backward excepted: version 2's).
//            6: version 5 with each finishing stage folded into the element-wise pass after it, as
//               batch norm's version 7 (kernels/cuda/norm_finish_v6.cuh): each block of the pass
//               (contiguous quads) works out its few segments' statistics or means with version
//               5's code into shared memory; block 0 adds dgamma/dbeta. Two kernels each way
//               instead of three; version 5's bits. Where quads do not apply, and for LN's
//               per-element backward, version 5. Not the default until a GPU has timed it
//               (NORMLAB_CUDA_VERSIONS=groupnorm=6,layernorm=6)
//            7: version 6's blocks in a pipeline of chunks of segments (norm_chunks_v7.cuh), as
//               batch norm's version 8: launch j runs chunk j's partial sums beside chunk j - 1's
//               element-wise pass, which re-reads x (and dy) from L2 where a tensor exceeds it; the
//               forward's chunks of values capped at 4,096 (the model's are under it: version 6's
//               bits there); one chunk, two launches each way, wherever the tensors fit in L2. Not
//               the default until a GPU has timed it (NORMLAB_CUDA_VERSIONS=groupnorm=7,layernorm=7)
//            8: version 5, but a segment of at most 16,384 values (every layer of the model at batch
//               128) is one block, running version 5's own code on it: forward its chunks' partial
//               sums one after another, their combination, then y (one launch instead of three);
//               backward its planes' sums (a warp per plane), the segment's means, then dx, and a
//               second launch adds dgamma/dbeta over the samples (two instead of three). Version 5's
//               bits; scalar loads (any H*W, any alignment); larger segments and LN's per-element
//               backward run version 5 (norm_block_v8.cuh). Not the default until a GPU has timed it
//               (NORMLAB_CUDA_VERSIONS=groupnorm=8,layernorm=8)
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace normlab::cuda {

struct KernelVersions {
  std::string op;
  int count;     // versions 1..count
  int selected;  // what the op runs now
};

std::vector<KernelVersions> kernel_versions();
int kernel_version(const std::string& op);        // the selected one; throws std::invalid_argument for an unknown op
int kernel_version_count(const std::string& op);  // its versions are 1..count; throws likewise
// Throws std::invalid_argument naming the op's versions when op or v is not one of them.
void set_kernel_version(const std::string& op, int v);

// Whether version v of conv2d has its own forward and data-gradient kernels (false: they are the
// previous version's, as in versions 3 and 5, which change only the weight gradient). bench_kernels
// times only the passes a version changes.
bool conv2d_has_own_forward(int v);
// Whether version v of conv2d has its own weight-gradient kernels (false for version 4, which
// changes only the forward and data gradient: its weight gradient is version 3's).
bool conv2d_has_own_weight_grad(int v);
// Whether version v of batchnorm, groupnorm or layernorm has its own kernels for the plain ops
// (false for version 4, which changes only the *_act ops: its plain ops are version 3's).
bool norm_has_own_plain(int v);

// The L2 bytes that the chunked versions — batch norm's 8 (chunks of channels), group and layer
// norm's 7 (chunks of segments) — plan their chunks on: 0 (the default) takes the device's L2 size
// (cudaDevAttrL2CacheSize; the emulator reports none, so there every chunk is one channel or one
// segment). The tests set it to take one chunk, or chunks of a few; bench_kernels times those
// versions at half and twice the device's L2 beside it.
void set_l2_plan_bytes(std::size_t bytes);
std::size_t l2_plan_bytes();  // what was set (0: the device's)

// Selects again, when it goes out of scope (also by an exception), the version of op and the L2
// plan that were selected when it was made: the tests and the benchmark change them inside one.
class VersionGuard {
 public:
  explicit VersionGuard(std::string op) : op_(std::move(op)), version_(kernel_version(op_)), plan_(l2_plan_bytes()) {}
  ~VersionGuard() {
    set_l2_plan_bytes(plan_);
    set_kernel_version(op_, version_);
  }
  VersionGuard(const VersionGuard&) = delete;
  VersionGuard& operator=(const VersionGuard&) = delete;

 private:
  std::string op_;
  int version_;
  std::size_t plan_;
};

// Runs fn(v) with each version v = 1..count of op selected in turn, then selects again the version
// that was selected before (also when fn throws): the tests and the benchmark loop over versions so.
template <class F>
void for_each_version(const std::string& op, F&& fn) {
  const VersionGuard guard(op);
  for (int v = 1, n = kernel_version_count(op); v <= n; ++v) {
    set_kernel_version(op, v);
    fn(v);
  }
}

}  // namespace normlab::cuda
