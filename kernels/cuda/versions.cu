// The selected version of each CUDA op (kernels/cuda/versions.h). Host code only.
#include <stdexcept>

#include "kernels/cuda/versions.h"

namespace normlab::cuda {
namespace {
std::vector<KernelVersions>& table() {
  static std::vector<KernelVersions> t = {
      {"conv2d", 3, 3}, {"batchnorm", 3, 3}, {"groupnorm", 3, 3}, {"layernorm", 3, 3}};
  return t;
}
KernelVersions& find(const std::string& op) {
  for (auto& k : table())
    if (k.op == op) return k;
  std::string known;
  for (const auto& k : table()) known += (known.empty() ? "" : ", ") + k.op;
  throw std::invalid_argument("no CUDA op '" + op + "' with versions (known: " + known + ")");
}
}  // namespace

std::vector<KernelVersions> kernel_versions() { return table(); }

int kernel_version(const std::string& op) { return find(op).selected; }

int kernel_version_count(const std::string& op) { return find(op).count; }

bool conv2d_has_own_forward(int v) { return v <= 2; }

void set_kernel_version(const std::string& op, int v) {
  KernelVersions& k = find(op);
  if (v < 1 || v > k.count)
    throw std::invalid_argument("CUDA op " + op + " has versions 1 to " + std::to_string(k.count) + ", not " +
                                std::to_string(v));
  k.selected = v;
}

}  // namespace normlab::cuda
