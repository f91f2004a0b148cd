// Which CUDA kernel version each op with versions runs (kernels/cuda/versions.h), for the record of
// a run: e.g. "conv2d=3,batchnorm=5,groupnorm=5,layernorm=5" — the defaults, or what the
// environment variable NORMLAB_CUDA_VERSIONS selects. Reading it checks that variable: a malformed
// one throws InputError naming it and the fix. "" in a build without a CUDA backend.
#pragma once
#include <string>

namespace normlab::ops {
std::string cuda_kernel_versions();
}  // namespace normlab::ops
