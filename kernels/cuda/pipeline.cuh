// Version 6's one-kernel pipelines (kernels/cuda/versions.h): a reduction and the element-wise pass
// that needs its result, in one launch, the pass reading its data again while it is still in L2.
//
// Why. A two-pass norm reads its input twice: once for the statistics, once to normalise (and the
// backward reads dy and x twice). In versions 2-5 each pass is its own launch over the whole
// tensor, so when the tensor outgrows L2 (the issue's N=256, C=64, 56x56 is 205 MB; an H100 has
// 50 MB of L2) the second read comes from DRAM again: forward + backward move 8-9 tensors' worth of
// bytes where 5 would do (x, y; dy, x, dx), which caps them near 5/9 of the copy bandwidth however
// fast each kernel streams.
//
// How. The work is cut into units (a channel, for batch norm), each unit into `parts` slices. One
// persistent grid takes items in ticket order (an atomic counter), so the order in which items
// start is fixed by the schedule, not by which blocks the GPU runs first:
//   reduce(u, p): the partial sums of slice p of unit u, written to memory; the block that
//                 finishes the last slice of u (a counter per unit) combines u's partials in a
//                 fixed order, writes u's statistics and sets u's ready flag;
//   apply(u, p):  waits for u's flag, then the element-wise pass over slice p — the slice that
//                 reduce(u, p) read a little earlier.
// The schedule runs `lead` units of reductions ahead of the passes: reduce 0 .. lead-1, then
// reduce(u + lead) and apply(u) alternately, then the last applies. `lead` is chosen so that lead
// units' data fit in a fraction of L2; it changes the order in which items start, never what they
// compute, so the bits do not depend on it or on the grid.
//
// Why it cannot deadlock. An apply item waits only for reduce items of lower tickets; a ticket is
// taken only by a running block, and a reduce item never waits, so every wait ends — whatever
// the grid's size and however many of its blocks are resident. (A wait is bounded all the same:
// after kPipeSpinLimit polls the kernel traps, and the launch fails instead of hanging.)
//
// Memory order. Partials, statistics and flags cross blocks within one launch, so: a writer fences
// (__threadfence) before its atomic arrival or its flag; a reader fences after seeing the count or
// the flag, and reads what other blocks wrote with __ldcg (from L2: this SM's L1 is not coherent
// with other SMs' stores). On the emulator blocks run one at a time in ticket order, so a wait is
// never needed there; a wait that would be is reported as a fault (a schedule that puts a pass
// before its reduction fails the launch instead of hanging the test).
#pragma once
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace normlab::cuda {

constexpr int kPipeL2Fraction = 4;               // lead units' data take at most L2 / this
constexpr long long kPipeSpinLimit = 1ll << 24;  // polls before a wait traps (seconds; a real wait: microseconds)
constexpr unsigned kPipeSleepNs = 128;           // between polls

// The schedule of `units` units of `parts` items each: 2 * units * parts tickets.
struct PipeOrder {
  int units, parts, lead;  // 1 <= lead <= units
  struct Item {
    bool apply;
    int unit, part;
  };
  __host__ __device__ int64_t tickets() const { return 2 * int64_t(units) * parts; }
  __host__ __device__ Item item(int64_t t) const {
    const int g = int(t / parts), p = int(t % parts), j = g - lead, both = 2 * (units - lead);
    if (j < 0) return {false, g, p};                                       // the first lead units' reductions
    if (j < both) return {(j & 1) != 0, j & 1 ? j / 2 : lead + j / 2, p};  // reduce(u + lead), apply(u)
    return {true, units - lead + (j - both), p};                           // the last applies
  }
};

// The counters one launch needs, zeroed before it: ticket, done[units], ready[units].
struct PipeSync {
  int* base;
  int units;
  __host__ __device__ int* ticket() const { return base; }
  __host__ __device__ int* done(int u) const { return base + 1 + u; }
  __host__ __device__ int* ready(int u) const { return base + 1 + units + u; }
  static std::size_t ints(int units) { return 1 + 2 * std::size_t(units); }
};

// The next ticket, the same in every thread of the block.
__device__ inline int64_t pipe_take(const PipeSync& s) {
  NL_SHARED(int, slot, 1);
  __syncthreads();  // the previous item is done with slot
  if (threadIdx.x == 0) slot[0] = atomicAdd(s.ticket(), 1);
  __syncthreads();
  return slot[0];
}

// Called by every thread once thread 0 has written the block's partial: whether this block
// finished unit u's last part (then what the others wrote is visible to it, read with __ldcg).
__device__ inline bool pipe_arrive(const PipeSync& s, int u, int parts) {
  NL_SHARED(int, last, 1);
  if (threadIdx.x == 0) {
    __threadfence();  // the partial before the count
    last[0] = atomicAdd(s.done(u), 1) == parts - 1;
    if (last[0]) __threadfence();
  }
  __syncthreads();
  return last[0] != 0;
}

// Called by the one thread that wrote unit u's results.
__device__ inline void pipe_publish(const PipeSync& s, int u) {
  __threadfence();  // the results before the flag
  atomicExch(s.ready(u), 1);
}

// Every thread of the block returns once unit u's results are published.
__device__ inline void pipe_wait(const PipeSync& s, int u) {
  if (threadIdx.x == 0) {
#ifdef NORMLAB_CUDA_EMULATE
    if (*s.ready(u) == 0)
      ::normlab::emu::device_fault("version 6 pipeline: a pass waits for a unit no earlier item finished",
                                   std::source_location::current());
#else
    long long polls = 0;
    while (*static_cast<volatile int*>(s.ready(u)) == 0) {
      if (++polls > kPipeSpinLimit) __trap();
      __nanosleep(kPipeSleepNs);
    }
#endif
    __threadfence();
  }
  __syncthreads();
}

}  // namespace normlab::cuda
