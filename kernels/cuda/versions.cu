// The selected version of each CUDA op (kernels/cuda/versions.h). Host code only.
#include <atomic>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "kernels/cuda/versions.h"

namespace normlab::cuda {
namespace {
std::string known_ops(const std::vector<KernelVersions>& t) {
  std::string known;
  for (const auto& k : t) known += (known.empty() ? "" : ", ") + k.op + " 1-" + std::to_string(k.count);
  return known;
}

// NORMLAB_CUDA_VERSIONS="op=v,op=v" (e.g. "batchnorm=3,groupnorm=3") selects versions for the whole
// process: a training run on an older version, to time what a newer one changed
// (scripts/gpu-run.sh). An entry that is not an op's version throws InputError (bad input: the
// apps exit 2), naming the choices, at the first CUDA op that has versions.
void apply_environment(std::vector<KernelVersions>& t) {
  const char* env = std::getenv("NORMLAB_CUDA_VERSIONS");
  if (!env) return;
  std::stringstream ss(env);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    KernelVersions* k = nullptr;
    for (auto& r : t)
      if (eq != std::string::npos && r.op == item.substr(0, eq)) k = &r;
    const std::string v = eq == std::string::npos ? "" : item.substr(eq + 1);
    const bool digit = v.size() == 1 && v[0] >= '1' && v[0] <= '9';
    if (!k || !digit || v[0] - '0' > k->count)
      throw InputError("the environment variable NORMLAB_CUDA_VERSIONS: '" + item +
                       "' is not op=version; unset it or use ops and versions among " + known_ops(t));
    k->selected = v[0] - '0';
  }
}

std::vector<KernelVersions>& table() {
  static std::vector<KernelVersions> t = [] {
    // {op, versions, default}. The defaults follow the H200's run 4 (docs/results-gpu.md): version 5
    // of each norm trains fastest; batch norm's version 6 is correct there but slower than version 5
    // on every shape, so it is opt-in (NORMLAB_CUDA_VERSIONS=batchnorm=6). Batch norm's version 7
    // (written after run 4, checked on the emulator, never run on a GPU) is opt-in until timed, and
    // so are its versions 8 and 9, conv2d's versions 4 and 5 and group and layer norm's versions 6, 7 and 8
    // (written after run 4; on the emulator, on the model's shapes, version 5's, version 2's and
    // version 5's bits; batch norm's 9 other bits on the small layers).
    std::vector<KernelVersions> v = {{"conv2d", 5, 3}, {"batchnorm", 9, 5}, {"groupnorm", 8, 5}, {"layernorm", 8, 5}};
    apply_environment(v);
    return v;
  }();
  return t;
}
KernelVersions& find(const std::string& op) {
  for (auto& k : table())
    if (k.op == op) return k;
  throw std::invalid_argument("no CUDA op '" + op + "' with versions (known: " + known_ops(table()) + ")");
}
}  // namespace

std::vector<KernelVersions> kernel_versions() { return table(); }

int kernel_version(const std::string& op) { return find(op).selected; }

int kernel_version_count(const std::string& op) { return find(op).count; }

bool conv2d_has_own_forward(int v) { return v != 3 && v != 5; }

bool conv2d_has_own_weight_grad(int v) { return v != 4; }

bool norm_has_own_plain(int v) { return v != 4; }

namespace {
std::atomic<std::size_t> l2_plan{0};
}
void set_l2_plan_bytes(std::size_t bytes) { l2_plan = bytes; }
std::size_t l2_plan_bytes() { return l2_plan; }

void set_kernel_version(const std::string& op, int v) {
  KernelVersions& k = find(op);
  if (v < 1 || v > k.count)
    throw std::invalid_argument("CUDA op " + op + " has versions 1 to " + std::to_string(k.count) + ", not " +
                                std::to_string(v));
  k.selected = v;
}

}  // namespace normlab::cuda
