// Per-op wall-clock timers, for finding where an epoch's time goes (`mnist_norm --profile`).
// Off by default: then a timer costs one relaxed load. On, each dispatcher call adds its wall time
// to the op's entry. CPU kernels are synchronous, so the time is the kernel's; CUDA launches are
// asynchronous, so their entries time the launch unless NORMLAB_CUDA_SYNC=1 makes each launch wait.
// Not thread-safe for concurrent ops (the dispatcher is called from one thread).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace normlab::profile {

bool enabled();
void enable(bool on);
void reset();
void add(const char* op, double seconds);  // adds a call of `seconds` to op's entry

struct Entry {
  std::string op;
  int64_t calls = 0;
  double seconds = 0;
};
std::vector<Entry> entries();  // largest total time first

// Times its own lifetime into `op` when profiling is on.
class Scope {
 public:
  explicit Scope(const char* op) : op_(enabled() ? op : nullptr) {
    if (op_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (op_) add(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* op_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace normlab::profile
