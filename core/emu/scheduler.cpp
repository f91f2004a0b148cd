// The device half of the CUDA emulator (see core/emu/cuda_emu.h): runs a kernel's blocks one after
// another and the threads of a block as fibers.
//
// How a block runs. A fiber stack runs the block's threads one after another as plain calls. When
// a thread reaches a barrier or a shuffle it stays parked on that stack, and a fresh stack carries
// on with the next thread; so a kernel without barriers costs one stack switch per block. Once
// every thread has finished or parked, the scheduler (on the launching thread's own stack) looks at
// the parked threads: the lanes of a shuffle whose whole mask has arrived exchange their values and
// go on; when no shuffle can go on and every live thread waits at the same __syncthreads, the
// barrier opens. Anything else is an error of the kernel's (a thread exited or waits elsewhere),
// reported with the kernel, block, thread and line, and the launch fails as it would on a GPU.
// Parked threads resume in thread order, forward or reversed (set_order), each handing the CPU
// straight to the next. Stacks switch with Boost.Context's fcontext (a few nanoseconds a switch).
#include <sys/mman.h>

#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/emu/cuda_emu.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace normlab::emu {
namespace {
using boost::context::detail::fcontext_t;
using boost::context::detail::jump_fcontext;
using boost::context::detail::make_fcontext;
using boost::context::detail::transfer_t;

constexpr std::size_t kStackBytes = 128 * 1024;  // per fiber; a guard page below catches overflow

enum class St : unsigned char { unstarted, running, barrier, shuffle, done };

struct Thr {
  St st = St::unstarted;
  uint3 idx;
  fcontext_t ctx = nullptr;  // where a parked thread resumes
  std::source_location site;  // where it waits
  unsigned mask = 0;          // shuffle: the mask, kind, argument and width, the value in and out
  Shfl kind = Shfl::idx;
  int arg = 0, width = 32;
  std::size_t bytes = 0;
  unsigned char in[8] = {}, out[8] = {};
};

struct Worker {
  // fiber stacks, reused across blocks and launches
  std::vector<char*> stacks;
  std::vector<int> free_stacks;
  int starting_stack = -1;  // handed to a fresh stack's entry
  // the block in progress
  const char* kernel = "";
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  unsigned n = 0;         // threads in the block
  std::vector<Thr> t;     // by linear index x + y*X + z*X*Y
  std::vector<unsigned> order;
  std::size_t next = 0;   // threads order[0..next) have started
  unsigned cur = 0;       // the running thread
  std::vector<unsigned> ready;  // released threads, resumed one after another
  std::size_t ready_pos = 0;
  fcontext_t master = nullptr;  // the launching thread's own stack
  std::string error;
  std::vector<std::pair<const void*, std::unique_ptr<unsigned char[]>>> shared;
  std::size_t static_bytes = 0, dynamic_bytes = 0;
  std::unique_ptr<unsigned char[]> dynamic;
};
thread_local Worker W;

std::mutex launch_mu;  // one launch at a time: the built-in variables are process-wide
std::atomic<Order> g_order{Order::forward};
std::atomic<int64_t> g_launches{0};
std::mutex names_mu;
std::map<std::string, int64_t> g_names;

std::string site_str(const std::source_location& s) {
  std::string f = s.file_name();
  const auto slash = f.rfind('/');
  if (slash != std::string::npos) {
    const auto slash2 = f.rfind('/', slash - 1);
    f = f.substr(slash2 == std::string::npos ? 0 : slash2 + 1);
  }
  return f + ":" + std::to_string(s.line());
}

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && std::string(a.file_name()) == b.file_name();
}

std::string thread_str(unsigned i) {
  const uint3& a = W.t[i].idx;
  char b[160];
  std::snprintf(b, sizeof b, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", W.kernel, blockIdx.x, blockIdx.y,
                blockIdx.z, a.x, a.y, a.z);
  return b;
}

void enter(unsigned i) {
  W.cur = i;
  W.t[i].st = St::running;
  threadIdx = W.t[i].idx;
}

int take_stack() {
  if (W.free_stacks.empty()) {
    const std::size_t page = 4096;
    void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      std::fprintf(stderr, "cuda emulator: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(m, page, PROT_NONE);  // the guard page: a stack overflow faults instead of corrupting
    W.stacks.push_back(static_cast<char*>(m) + page);
    W.free_stacks.push_back(static_cast<int>(W.stacks.size()) - 1);
  }
  const int s = W.free_stacks.back();
  W.free_stacks.pop_back();
  return s;
}

// Switches to `to`; whoever resumes us later passes where to keep the context it left (`save`).
void jump(fcontext_t to, fcontext_t* save) {
  const transfer_t t = jump_fcontext(to, save);
  if (t.data) *static_cast<fcontext_t*>(t.data) = t.fctx;
}

void trampoline(int s);
void entry(transfer_t t) {
  const int s = W.starting_stack;
  if (t.data) *static_cast<fcontext_t*>(t.data) = t.fctx;
  trampoline(s);
}

// A fresh stack that will start the next threads of the block.
fcontext_t fresh_trampoline() {
  const int s = take_stack();
  W.starting_stack = s;
  return make_fcontext(W.stacks[s] + kStackBytes, kStackBytes, entry);
}

// Where the CPU goes when the running thread parks or finishes: the next thread to start (on a
// fresh stack), else the next released thread, else the scheduler.
fcontext_t next_context() {
  if (!W.error.empty()) return W.master;
  if (W.next < W.order.size()) return fresh_trampoline();
  if (W.ready_pos < W.ready.size()) {
    const unsigned i = W.ready[W.ready_pos++];
    enter(i);
    return W.t[i].ctx;
  }
  return W.master;
}

// Runs the block's unstarted threads on stack s as plain calls. A thread that finishes returns here
// (even one resumed later by the scheduler); once no thread is left to start, the stack is free.
void trampoline(int s) {
  for (;;) {
    while (W.next < W.order.size() && W.error.empty()) {
      const unsigned i = W.order[W.next++];
      enter(i);
      W.body(W.arg);
      W.t[i].st = St::done;
    }
    const fcontext_t to = next_context();
    W.free_stacks.push_back(s);
    jump(to, nullptr);  // never resumed: the stack is reused from a fresh context
  }
}

// The running thread parks: another stack starts the remaining threads, or the next released thread
// runs, or the scheduler takes over.
void park() {
  const unsigned me = W.cur;
  jump(next_context(), &W.t[me].ctx);
  enter(me);
}

// An error found inside a thread: recorded, and the block is abandoned (the scheduler never resumes
// this thread). Not [[noreturn]]: that would make AddressSanitizer treat the fiber's stack as the
// thread's own when it is called.
void fail_here(const std::string& what) {
  if (W.error.empty()) W.error = thread_str(W.cur) + ": " + what;
  jump(W.master, nullptr);
}

void fail(unsigned i, const std::string& what) {
  if (W.error.empty()) W.error = thread_str(i) + ": " + what;
}

}  // namespace

// (The thread goes on, and the caller makes the access in a form this CPU allows — load_quad reads
// value by value — so only the report remains; the launch fails at the block's end.)
void device_fault(const std::string& what, std::source_location where) {
  fail(W.cur, what + " at " + site_str(where));
}

namespace {

std::string mask_str(unsigned m) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", m);
  return b;
}

// The lane whose value lane l of a shuffle reads, as CUDA defines it for each kind.
int source_lane(const Thr& t, int l) {
  const int w = t.width, seg = l & ~(w - 1);
  switch (t.kind) {
    case Shfl::idx: return seg + (t.arg & (w - 1));
    case Shfl::up: return l - seg >= t.arg ? l - t.arg : l;
    case Shfl::down: return l - seg + t.arg < w ? l + t.arg : l;
    case Shfl::bxor: {
      const int s = l ^ t.arg;
      return (s >= seg + w || s > 31 || s < 0) ? l : s;  // later segments: the lane's own value
    }
  }
  return l;
}

// Every thread has finished or parked: releases what may go on (in thread order), or records why
// nothing can. Returns the threads to resume, empty when the block is done or failed.
std::vector<unsigned> release() {
  std::vector<unsigned> ready;
  std::vector<char> seen(W.n, 0);
  for (unsigned i = 0; i < W.n && W.error.empty(); ++i) {
    const Thr& a = W.t[i];
    if (a.st != St::shuffle || seen[i]) continue;
    const unsigned base = i & ~31u;
    const std::string at = " at " + site_str(a.site) + " (mask " + mask_str(a.mask) + ")";
    for (int l = 0; l < 32 && W.error.empty(); ++l) {
      if (!(a.mask >> l & 1u)) continue;
      const unsigned j = base + static_cast<unsigned>(l);
      if (j >= W.n) {
        fail(i, "warp shuffle" + at + " names lane " + std::to_string(l) + ", but the block has only " +
                    std::to_string(W.n) + " threads");
      } else if (W.t[j].st == St::done) {
        fail(i, "warp shuffle" + at + ": lane " + std::to_string(l) + " of the mask has exited without arriving");
      } else if (W.t[j].st == St::barrier) {
        fail(i, "warp shuffle" + at + ": lane " + std::to_string(l) + " of the mask waits at __syncthreads at " +
                    site_str(W.t[j].site) + " instead");
      } else if (W.t[j].mask != a.mask || !same_site(W.t[j].site, a.site)) {
        fail(i, "warp shuffle" + at + ": lane " + std::to_string(l) + " of the mask waits at another shuffle, " +
                    site_str(W.t[j].site) + " (mask " + mask_str(W.t[j].mask) + ")");
      }
    }
    if (!W.error.empty()) break;
    for (int l = 0; l < 32 && W.error.empty(); ++l) {
      if (!(a.mask >> l & 1u)) continue;
      const unsigned j = base + static_cast<unsigned>(l);
      Thr& b = W.t[j];
      const int s = source_lane(b, l);
      if (s != l && !(a.mask >> s & 1u)) {
        fail(j, "warp shuffle" + at + ": lane " + std::to_string(l) + " reads lane " + std::to_string(s) +
                    ", which is not in the mask");
        break;
      }
      std::memcpy(b.out, W.t[base + static_cast<unsigned>(s)].in, b.bytes);
      seen[j] = 1;
      ready.push_back(j);
    }
  }
  if (!W.error.empty()) return {};
  if (ready.empty()) {  // no shuffle can go on: a barrier, or the end
    int waiting = -1, exited = -1;
    for (unsigned i = 0; i < W.n; ++i) {
      if (W.t[i].st == St::done) {
        if (exited < 0) exited = static_cast<int>(i);
        continue;
      }
      if (waiting < 0) waiting = static_cast<int>(i);
      const Thr& w = W.t[static_cast<unsigned>(waiting)];
      if (!same_site(W.t[i].site, w.site)) {
        fail(i, "barrier divergence: waits at __syncthreads at " + site_str(W.t[i].site) + " while " +
                    thread_str(static_cast<unsigned>(waiting)) + " waits at " + site_str(w.site));
        return {};
      }
      ready.push_back(i);
    }
    if (waiting >= 0 && exited >= 0) {
      fail(static_cast<unsigned>(waiting), "barrier divergence: waits at __syncthreads at " +
                                               site_str(W.t[static_cast<unsigned>(waiting)].site) + " but " +
                                               thread_str(static_cast<unsigned>(exited)) + " has exited");
      return {};
    }
  }
  if (g_order.load() == Order::reverse) std::reverse(ready.begin(), ready.end());
  return ready;
}

void run_block(std::size_t shmem) {
  W.error.clear();
  W.shared.clear();
  W.static_bytes = 0;
  W.dynamic_bytes = shmem;
  W.dynamic.reset(new unsigned char[shmem]);  // (a zero-size block too: any access is then caught)
  std::memset(W.dynamic.get(), 0xff, shmem);
  for (unsigned i = 0; i < W.n; ++i) {
    Thr& t = W.t[i];
    t.st = St::unstarted;
    t.idx = uint3(i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y));
  }
  W.next = 0;
  W.ready.clear();
  W.ready_pos = 0;
  jump(fresh_trampoline(), &W.master);
  while (W.error.empty()) {
    W.ready = release();
    W.ready_pos = 0;
    if (W.ready.empty()) break;
    jump(next_context(), &W.master);
  }
  if (!W.error.empty()) {  // the block's fibers are abandoned: every stack is free again
    W.free_stacks.clear();
    for (std::size_t s = 0; s < W.stacks.size(); ++s) W.free_stacks.push_back(static_cast<int>(s));
  }
}

}  // namespace

void syncthreads(std::source_location where) {
  Thr& t = W.t[W.cur];
  t.st = St::barrier;
  t.site = where;
  park();
}

void shuffle(void* out, const void* in, std::size_t bytes, unsigned mask, Shfl kind, int arg, int width,
             std::source_location where) {
  const unsigned lane = W.cur & 31u;
  if (width < 1 || width > 32 || (width & (width - 1)))
    fail_here("warp shuffle at " + site_str(where) + ": width " + std::to_string(width) +
              " is not a power of two up to 32");
  if (!(mask >> lane & 1u))
    fail_here("warp shuffle at " + site_str(where) + ": lane " + std::to_string(lane) + " is not in its own mask " +
              mask_str(mask));
  Thr& t = W.t[W.cur];
  t.st = St::shuffle;
  t.site = where;
  t.mask = mask;
  t.kind = kind;
  t.arg = arg;
  t.width = width;
  t.bytes = bytes;
  if (bytes) std::memcpy(t.in, in, bytes);
  park();
  if (bytes) std::memcpy(out, W.t[W.cur].out, bytes);
}

void syncwarp(unsigned mask, std::source_location where) {
  shuffle(nullptr, nullptr, 0, mask, Shfl::idx, static_cast<int>(W.cur & 31u), 32, where);
}

void* block_shared(const void* key, std::size_t bytes, const char* name) {
  for (std::size_t k = 0; k < W.shared.size(); ++k)
    if (W.shared[k].first == key) return W.shared[k].second.get();
  W.static_bytes += bytes;
  if (W.static_bytes > kStaticSharedLimit)
    fail_here(std::string("static shared memory (") + name + ") reaches " + std::to_string(W.static_bytes) +
              " bytes, above 48 KiB: nvcc would not build this kernel");
  if (W.static_bytes + W.dynamic_bytes > kSharedOptinLimit)
    fail_here("static plus dynamic shared memory above the device's 227 KiB");
  W.shared.emplace_back(key, std::unique_ptr<unsigned char[]>(new unsigned char[bytes]));
  std::memset(W.shared.back().second.get(), 0xff, bytes);  // uninitialised shared memory reads as NaN
  return W.shared.back().second.get();
}

void* dynamic_shared() { return W.dynamic.get(); }

void set_order(Order o) { g_order = o; }
int64_t launches() { return g_launches.load(); }

std::vector<std::pair<std::string, int64_t>> kernel_counts() {
  std::lock_guard<std::mutex> lock(names_mu);
  return {g_names.begin(), g_names.end()};
}

int run_kernel(const char* name, const void* fn, dim3 grid, dim3 block, std::size_t shmem, void (*body)(void*),
               void* arg) {
  const cudaError_t sticky = cudaPeekAtLastError();
  if (sticky == cudaErrorLaunchFailure) return sticky;
  const std::string k = std::string("launch of ") + name + ": ";
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535) {
    char b[200];
    std::snprintf(b, sizeof b, "grid (%u,%u,%u) x block (%u,%u,%u) is outside the limits (block <= 1024 threads)",
                  grid.x, grid.y, grid.z, block.x, block.y, block.z);
    set_error(cudaErrorInvalidConfiguration, (k + b).c_str(), false);
    return cudaErrorInvalidConfiguration;
  }
  if (const std::size_t limit = max_dynamic_shared(fn); shmem > limit) {
    set_error(cudaErrorInvalidValue,
              (k + std::to_string(shmem) + " bytes of dynamic shared memory, above the kernel's limit of " +
               std::to_string(limit) +
               " (above 48 KiB needs cudaFuncSetAttribute(MaxDynamicSharedMemorySize))")
                  .c_str(),
              false);
    return cudaErrorInvalidValue;
  }
  std::lock_guard<std::mutex> one_at_a_time(launch_mu);
  ++g_launches;
  {
    std::lock_guard<std::mutex> lock(names_mu);
    ++g_names[name];
  }
  W.kernel = name;
  W.body = body;
  W.arg = arg;
  W.n = static_cast<unsigned>(threads);
  if (W.t.size() < W.n) W.t.resize(W.n);
  W.order.resize(W.n);
  const bool rev = g_order.load() == Order::reverse;
  for (unsigned i = 0; i < W.n; ++i) W.order[i] = rev ? W.n - 1 - i : i;
  gridDim = grid;
  blockDim = block;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t q = 0; q < blocks; ++q) {
    const uint64_t b = rev ? blocks - 1 - q : q;
    blockIdx = uint3(static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                     static_cast<unsigned>(b / (uint64_t(grid.x) * grid.y)));
    run_block(shmem);
    if (!W.error.empty()) {
      set_error(cudaErrorLaunchFailure, W.error.c_str(), true);
      return cudaErrorLaunchFailure;
    }
  }
  return cudaSuccess;
}

}  // namespace normlab::emu
