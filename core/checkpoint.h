// Checkpoints: named tensors in one binary file.
//   "NLCKPT\0\0" | u32 version (1) | u32 count | per tensor: u32 name length, name, u32 dtype,
//   u32 ndim, i64 dims[ndim], raw data (little-endian, as in memory).
// save() writes PATH.tmp and renames it over PATH, so a crash never leaves a half-written file.
// load() checks the magic, version, names, dtypes and shapes, and fills the given tensors.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace normlab {

using NamedTensors = std::vector<std::pair<std::string, Tensor*>>;

void save_checkpoint(const std::string& path, const NamedTensors& tensors);
void load_checkpoint(const std::string& path, const NamedTensors& tensors);

}  // namespace normlab
