#include "core/profile.h"

#include <algorithm>
#include <atomic>
#include <map>

namespace normlab::profile {
namespace {
std::atomic<bool> on{false};
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
}  // namespace

bool enabled() { return on.load(std::memory_order_relaxed); }
void enable(bool v) { on.store(v, std::memory_order_relaxed); }
void reset() { table().clear(); }

void add(const char* op, double seconds) {
  Entry& e = table()[op];
  if (e.op.empty()) e.op = op;
  ++e.calls;
  e.seconds += seconds;
}

std::vector<Entry> entries() {
  std::vector<Entry> v;
  for (const auto& [k, e] : table()) v.push_back(e);
  std::stable_sort(v.begin(), v.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return v;
}

}  // namespace normlab::profile
