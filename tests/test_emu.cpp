// The CUDA emulator's own tests (emulation builds only): its semantics — barriers that really
// synchronize, warp shuffles of every kind and width, per-block shared memory that starts as NaN,
// NaN-filled new device memory — and its detectors, each of which must fail the launch with a
// message that names the kernel, the block, the thread and the line: barrier divergence, a shuffle
// lane that never arrives, a read from a lane outside the mask, launch limits, and a race (a
// missing barrier) that shows up as different bits in forward and reverse thread order; and stream
// capture (CUDA Graphs): captured work does not run, a graph replays it in order with the captured
// arguments, a capture forks to a second stream and joins back (a branch left unjoined fails it, and
// the replay orders a GPU may choose expose a race between branches), and what breaks a capture on a
// GPU breaks it here.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/pipeline.cuh"

using namespace normlab;
using normlab::cuda::launch;

namespace {
// ---- kernels (plain CUDA, as in kernels/cuda) ----
__global__ void barrier_exchange(float* out, int n) {  // each thread reads its neighbour's value
  NL_SHARED(float, s, 256);
  s[threadIdx.x] = float(threadIdx.x) + 0.5f;
  __syncthreads();
  out[blockIdx.x * n + threadIdx.x] = s[(threadIdx.x + 1) % n];
}
__global__ void racy_exchange(float* out, int n) {  // the same without the barrier
  NL_SHARED(float, s, 256);
  s[threadIdx.x] = float(threadIdx.x) + 0.5f;
  out[blockIdx.x * n + threadIdx.x] = s[(threadIdx.x + 1) % n];
}
__global__ void early_exit(float* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1.f;
}
__global__ void two_barriers(float* out) {
  if (threadIdx.x < 32)
    __syncthreads();
  else
    __syncthreads();
  out[threadIdx.x] = 1.f;
}
__global__ void shuffles(int* out) {
  const int lane = threadIdx.x & 31;
  out[threadIdx.x * 4 + 0] = __shfl_xor_sync(0xffffffffu, lane, 1);
  out[threadIdx.x * 4 + 1] = __shfl_down_sync(0xffffffffu, lane, 3, 8);
  out[threadIdx.x * 4 + 2] = __shfl_up_sync(0xffffffffu, lane, 2);
  out[threadIdx.x * 4 + 3] = __shfl_sync(0xffffffffu, lane, 7, 16);
}
__global__ void shuffle_missing_lane(int* out) {
  const int lane = threadIdx.x & 31;
  if (lane < 16) out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
}
__global__ void shuffle_outside_mask(int* out) {
  const int lane = threadIdx.x & 31;
  if (lane < 16) out[lane] = __shfl_xor_sync(0x0000ffffu, lane, 16);
}
__global__ void read_shared_unwritten(float* out) {
  NL_SHARED(float, s, 32);
  out[threadIdx.x] = s[threadIdx.x];
}
__global__ void axpb(float* y, const float* x, float a, float b, int n) {  // y = a x + b
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + b;
}
__global__ void dynamic_touch(float* out) {
  NL_DYNAMIC_SHARED(float, s);
  s[threadIdx.x] = 2.f;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

// Version 6's pipeline (kernels/cuda/pipeline.cuh) on a toy reduction: reduce(u, p) writes
// part[u][p] = 100 u + p, the finisher of unit u writes total[u] = its parts' sum, apply(u, p)
// writes out[u][p] = total[u] + p. `flip` runs each item as the other kind: a pass before its reduction.
__global__ void pipe_toy(float* out, float* part, float* total, cuda::PipeSync sync, cuda::PipeOrder order, bool flip) {
  for (int64_t t = cuda::pipe_take(sync); t < order.tickets(); t = cuda::pipe_take(sync)) {
    const cuda::PipeOrder::Item it = order.item(t);
    const int u = it.unit, p = it.part, P = order.parts;
    if (it.apply == flip) {
      if (threadIdx.x == 0) part[u * P + p] = float(100 * u + p);
      if (cuda::pipe_arrive(sync, u, P) && threadIdx.x == 0) {
        float s = 0.f;
        for (int q = 0; q < P; ++q) s += __ldcg(part + u * P + q);
        total[u] = s;
        cuda::pipe_publish(sync, u);
      }
      continue;
    }
    cuda::pipe_wait(sync, u);
    if (threadIdx.x == 0) out[u * P + p] = __ldcg(total + u) + float(p);
  }
}

template <typename T>
std::vector<T> host(const T* p, std::size_t n) {
  std::vector<T> h(n);
  CUDA_CHECK(cudaMemcpy(h.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost));
  return h;
}
template <typename T>
T* dev(std::size_t n) {
  T* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, sizeof(T) * n));
  return p;
}
// The launch's error message (after which the sticky error is cleared), or "" if it succeeded.
template <typename F>
std::string failure(F&& f) {
  std::string what;
  try {
    f();
  } catch (const CudaError& e) {
    what = e.what();
  }
  cudaDeviceReset();
  return what;
}
}  // namespace

TEST_CASE("emulator: __syncthreads is a barrier, shared memory is per block", "[cuda-emu]") {
  const int n = 256, blocks = 3;
  float* out = dev<float>(n * blocks);
  for (auto o : {emu::Order::forward, emu::Order::reverse}) {
    emu::set_order(o);
    NL_LAUNCH(barrier_exchange, blocks, n, 0, out, n);
    const auto h = host(out, n * blocks);
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < n; ++t) REQUIRE(h[b * n + t] == float((t + 1) % n) + 0.5f);
  }
  emu::set_order(emu::Order::forward);
  cudaFree(out);
}

TEST_CASE("emulator: a missing barrier gives different bits in forward and reverse order", "[cuda-emu]") {
  const int n = 64;
  float* out = dev<float>(n);
  emu::set_order(emu::Order::forward);
  NL_LAUNCH(racy_exchange, 1, n, 0, out, n);
  const auto fwd = host(out, n);
  emu::set_order(emu::Order::reverse);
  NL_LAUNCH(racy_exchange, 1, n, 0, out, n);
  const auto rev = host(out, n);
  emu::set_order(emu::Order::forward);
  CHECK(std::isnan(fwd[0]));   // forward: thread 0 reads thread 1's slot before thread 1 ran
  CHECK(rev[0] == 1.5f);       // reversed: thread 1 ran first
  cudaFree(out);
}

TEST_CASE("emulator: warp shuffles of each kind and width", "[cuda-emu]") {
  int* out = dev<int>(64 * 4);
  NL_LAUNCH(shuffles, 1, 64, 0, out);
  const auto h = host(out, 64 * 4);
  for (int t = 0; t < 64; ++t) {
    const int l = t & 31;
    INFO("thread " << t);
    CHECK(h[t * 4 + 0] == (l ^ 1));
    CHECK(h[t * 4 + 1] == ((l % 8) + 3 < 8 ? l + 3 : l));  // down within segments of 8
    CHECK(h[t * 4 + 2] == (l >= 2 ? l - 2 : l));
    CHECK(h[t * 4 + 3] == (l / 16) * 16 + 7);              // broadcast of lane 7 of each half
  }
  cudaFree(out);
}

TEST_CASE("emulator: shared and new device memory start as NaN", "[cuda-emu]") {
  float* out = dev<float>(32);
  CHECK(std::isnan(host(out, 32)[3]));
  NL_LAUNCH(read_shared_unwritten, 1, 32, 0, out);
  CHECK(std::isnan(host(out, 32)[7]));
  cudaFree(out);
}

TEST_CASE("emulator: barrier divergence is reported with kernel, block, thread and line", "[cuda-emu]") {
  float* out = dev<float>(64);
  const std::string a = failure([&] { NL_LAUNCH(early_exit, 2, 64, 0, out); });
  INFO(a);
  CHECK(a.find("barrier divergence") != std::string::npos);
  CHECK(a.find("kernel early_exit, block (0,0,0)") != std::string::npos);
  CHECK(a.find("thread (5,0,0) has exited") != std::string::npos);
  CHECK(a.find("test_emu.cpp:") != std::string::npos);
  const std::string b = failure([&] { NL_LAUNCH(two_barriers, 1, 64, 0, out); });
  INFO(b);
  CHECK(b.find("barrier divergence: waits at __syncthreads at") != std::string::npos);
  cudaFree(out);
}

TEST_CASE("emulator: a shuffle lane that never arrives, and a read outside the mask", "[cuda-emu]") {
  int* out = dev<int>(32);
  const std::string a = failure([&] { NL_LAUNCH(shuffle_missing_lane, 1, 32, 0, out); });
  INFO(a);
  CHECK(a.find("lane 16 of the mask has exited without arriving") != std::string::npos);
  const std::string b = failure([&] { NL_LAUNCH(shuffle_outside_mask, 1, 32, 0, out); });
  INFO(b);
  CHECK(b.find("reads lane 16, which is not in the mask") != std::string::npos);
  cudaFree(out);
}

TEST_CASE("emulator: launch limits fail as CUDA's do", "[cuda-emu]") {
  float* out = dev<float>(1024);
  const std::string a = failure([&] { NL_LAUNCH(dynamic_touch, 1, 1025, 0, out); });
  CHECK(a.find("invalid configuration argument") != std::string::npos);
  const std::string b = failure([&] { NL_LAUNCH(dynamic_touch, 1, 32, 64 * 1024, out); });
  CHECK(b.find("invalid argument") != std::string::npos);
  CHECK(b.find("cudaFuncSetAttribute") != std::string::npos);
  CUDA_CHECK(cudaFuncSetAttribute(dynamic_touch, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
  NL_LAUNCH(dynamic_touch, 1, 32, 64 * 1024, out);  // allowed once the attribute is set
  CHECK(host(out, 32)[31] == 2.f);
  CHECK(cudaMemcpy(out, out + 1000, 100 * sizeof(float), cudaMemcpyDeviceToDevice) == cudaErrorInvalidValue);
  cudaDeviceReset();
  cudaFree(out);
}

TEST_CASE("emulator: stream capture records, a graph replays in order with the captured arguments", "[cuda-emu]") {
  const int n = 40;
  float* x = dev<float>(n);
  float* y = dev<float>(n);
  std::vector<float> h(n);
  for (int i = 0; i < n; ++i) h[i] = float(i);
  CUDA_CHECK(cudaMemcpy(x, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  cudaStream_t s = cuda_stream();
  float a = 2.f;
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  cudaStreamCaptureStatus st{};
  CUDA_CHECK(cudaStreamIsCapturing(s, &st));
  CHECK(st == cudaStreamCaptureStatusActive);
  CUDA_CHECK(cudaMemsetAsync(y, 0, n * sizeof(float), s));
  NL_LAUNCH(axpb, 2, 32, 0, y, x, a, 1.f, n);   // y = 2x + 1
  NL_LAUNCH(axpb, 2, 32, 0, x, y, a, 0.f, n);   // x = 2y
  a = 100.f;                                    // the graph keeps the value captured
  cudaGraph_t g = nullptr;
  CUDA_CHECK(cudaStreamEndCapture(s, &g));
  REQUIRE(g != nullptr);
  CHECK(host(x, n)[3] == 3.f);  // nothing ran during the capture
  std::size_t nodes = 0;
  CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &nodes));
  CHECK(nodes == 3);
  cudaGraphExec_t e = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
  CUDA_CHECK(cudaGraphLaunch(e, s));
  CHECK(host(x, n)[3] == 14.f);  // 2 (2*3 + 1)
  CUDA_CHECK(cudaGraphLaunch(e, s));
  CHECK(host(x, n)[3] == 58.f);  // 2 (2*14 + 1): replayed on the new values, with a = 2
  CUDA_CHECK(cudaGraphExecDestroy(e));
  CUDA_CHECK(cudaGraphDestroy(g));
  cudaFree(x);
  cudaFree(y);
}

TEST_CASE("emulator: a capture forks to a second stream and joins back through events; every order a GPU may "
          "run the branches in gives the same bits, and a race between them shows", "[cuda-emu]") {
  const int n = 40;
  float *x = dev<float>(n), *y = dev<float>(n), *z = dev<float>(n), *w = dev<float>(n);
  std::vector<float> h(n);
  for (int i = 0; i < n; ++i) h[i] = float(i);
  cudaStream_t s = cuda_stream(), side = nullptr;
  CUDA_CHECK(cudaStreamCreate(&side));
  cudaEvent_t fork = nullptr, join = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
  // y = 2x + 1; the side stream: z = 3y; the origin meanwhile: w = 5y, or (racy) y = 10y; joined: x = z + 1.
  const auto capture = [&](bool racy, bool joined) {
    CUDA_CHECK(cudaMemcpy(x, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    NL_LAUNCH(axpb, 2, 32, 0, y, x, 2.f, 1.f, n);
    CUDA_CHECK(cudaEventRecord(fork, s));
    CUDA_CHECK(cudaStreamWaitEvent(side, fork, 0));
    cudaStreamCaptureStatus st{};
    CUDA_CHECK(cudaStreamIsCapturing(side, &st));
    CHECK(st == cudaStreamCaptureStatusActive);  // the side stream joined the capture
    CHECK(emu::launch("axpb", axpb, dim3(2), dim3(32), 0, side, z, y, 3.f, 0.f, n) == cudaSuccess);
    if (racy) {
      NL_LAUNCH(axpb, 2, 32, 0, y, y, 10.f, 0.f, n);
    } else {
      NL_LAUNCH(axpb, 2, 32, 0, w, y, 5.f, 0.f, n);
    }
    if (joined) {
      CUDA_CHECK(cudaEventRecord(join, side));
      CUDA_CHECK(cudaStreamWaitEvent(s, join, 0));
    }
    NL_LAUNCH(axpb, 2, 32, 0, x, z, 1.f, 1.f, n);
    cudaGraph_t g = nullptr;
    const cudaError_t e = cudaStreamEndCapture(s, &g);
    CUDA_CHECK(cudaStreamIsCapturing(side, &st));
    CHECK(st == cudaStreamCaptureStatusNone);  // the end of the capture ends the side stream's part in it
    return std::pair{e, g};
  };
  const auto replay = [&](cudaGraph_t g, emu::GraphOrder o) {
    CUDA_CHECK(cudaMemcpy(x, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    emu::set_graph_order(o);
    cudaGraphExec_t e = nullptr;
    CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
    CUDA_CHECK(cudaGraphLaunch(e, s));
    CUDA_CHECK(cudaGraphExecDestroy(e));
    emu::set_graph_order(emu::GraphOrder::capture);
    return std::pair{host(x, n)[3], host(z, n)[3]};
  };
  using O = emu::GraphOrder;
  auto [ok, g] = capture(false, true);
  REQUIRE(ok == cudaSuccess);
  std::size_t nodes = 0;
  CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &nodes));
  CHECK(nodes == 4);  // the events add dependencies, not nodes
  for (O o : {O::capture, O::origin_first, O::branches_first}) CHECK(replay(g, o) == std::pair{22.f, 21.f});
  CUDA_CHECK(cudaGraphDestroy(g));
  // The origin overwrites y while the branch may still read it: the orders disagree.
  auto [ok2, racy] = capture(true, true);
  REQUIRE(ok2 == cudaSuccess);
  CHECK(replay(racy, O::capture).second == 21.f);
  CHECK(replay(racy, O::branches_first).second == 21.f);
  CHECK(replay(racy, O::origin_first).second == 210.f);  // the branch ran after y = 10y
  CUDA_CHECK(cudaGraphDestroy(racy));
  // A branch not joined back fails the capture, as on a GPU.
  auto [bad, none] = capture(false, false);
  CHECK(bad == cudaErrorStreamCaptureUnjoined);
  CHECK(none == nullptr);
  cudaDeviceReset();
  // A capturing stream cannot wait on work outside its capture; nor can the joined stream end it.
  CUDA_CHECK(cudaEventRecord(join, side));
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  CHECK(cudaStreamWaitEvent(s, join, 0) == cudaErrorStreamCaptureIsolation);
  cudaGraph_t g3 = nullptr;
  CHECK(cudaStreamEndCapture(s, &g3) == cudaErrorStreamCaptureInvalidated);
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  CUDA_CHECK(cudaEventRecord(fork, s));
  CUDA_CHECK(cudaStreamWaitEvent(side, fork, 0));
  CHECK(cudaStreamEndCapture(side, &g3) == cudaErrorInvalidValue);
  CUDA_CHECK(cudaStreamEndCapture(s, &g3));  // (nothing was forked: nothing to join)
  CUDA_CHECK(cudaGraphDestroy(g3));
  cudaDeviceReset();
  CUDA_CHECK(cudaEventDestroy(fork));
  CUDA_CHECK(cudaEventDestroy(join));
  CUDA_CHECK(cudaStreamDestroy(side));
  for (float* p : {x, y, z, w}) cudaFree(p);
}

TEST_CASE("emulator: what a GPU refuses during a capture invalidates it", "[cuda-emu]") {
  float* y = dev<float>(8);
  cudaStream_t s = cuda_stream();
  const auto broken = [&](auto&& f, cudaError_t want) {
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CHECK(f() == want);
    cudaGraph_t g = nullptr;
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
    CHECK(g == nullptr);
    cudaDeviceReset();
  };
  float h[8] = {};
  broken([&] { return cudaMemcpy(y, h, sizeof h, cudaMemcpyHostToDevice); }, cudaErrorStreamCaptureImplicit);
  broken([&] { return cudaMemsetAsync(y, 0, sizeof h, nullptr); }, cudaErrorStreamCaptureImplicit);
  broken([&] { return cudaDeviceSynchronize(); }, cudaErrorStreamCaptureUnsupported);
  broken([&] { void* p = nullptr; return cudaMalloc(&p, 16); }, cudaErrorStreamCaptureUnsupported);
  broken([&] { return cudaMemcpyAsync(y, h, sizeof h, cudaMemcpyHostToDevice, s); }, cudaErrorStreamCaptureUnsupported);
  // In the relaxed mode cudaMalloc is allowed (the allocator's blocks then belong to the graph).
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  void* p = nullptr;
  CHECK(cudaMalloc(&p, 16) == cudaSuccess);
  cudaGraph_t g = nullptr;
  CHECK(cudaStreamEndCapture(s, &g) == cudaSuccess);
  CUDA_CHECK(cudaGraphDestroy(g));
  cudaFree(p);
  cudaFree(y);
}

TEST_CASE("version 6's pipeline: each item once, a pass after its unit's reductions, lead units ahead", "[cuda-emu]") {
  for (int units : {1, 2, 5, 7})
    for (int parts : {1, 3})
      for (int lead : {1, 2, units}) {
        if (lead > units) continue;
        const cuda::PipeOrder o{units, parts, lead};
        INFO("units " << units << ", parts " << parts << ", lead " << lead);
        REQUIRE(o.tickets() == 2 * units * parts);
        std::vector<int> seen(std::size_t(2 * units * parts), 0), reduced(std::size_t(units), 0);
        int started = 0;  // units whose reductions have begun
        for (int64_t t = 0; t < o.tickets(); ++t) {
          const auto it = o.item(t);
          REQUIRE((it.unit >= 0 && it.unit < units && it.part >= 0 && it.part < parts));
          ++seen[std::size_t((it.apply ? units : 0) * parts + it.unit * parts + it.part)];
          if (!it.apply) {
            ++reduced[std::size_t(it.unit)];
            if (it.unit + 1 > started) started = it.unit + 1;
          } else {
            CHECK(reduced[std::size_t(it.unit)] == parts);  // all of its unit's reductions came first
            CHECK(started == std::min(units, it.unit + lead + 1));  // and lead units more, no further
          }
        }
        for (int k : seen) CHECK(k == 1);
      }
  // On the emulator blocks run one at a time, so one block takes every ticket in order and no wait
  // is needed; the toy gives its sums from any grid and in both orders.
  const int units = 4, parts = 3;
  float *out = dev<float>(units * parts), *part = dev<float>(units * parts), *total = dev<float>(units);
  int* sync = dev<int>(cuda::PipeSync::ints(units));
  for (auto o : {emu::Order::forward, emu::Order::reverse})
    for (int grid : {1, 5}) {
      emu::set_order(o);
      CUDA_CHECK(cudaMemset(sync, 0, sizeof(int) * cuda::PipeSync::ints(units)));
      NL_LAUNCH(pipe_toy, grid, 64, 0, out, part, total, cuda::PipeSync{sync, units}, cuda::PipeOrder{units, parts, 1},
                false);
      const auto h = host(out, units * parts);
      for (int u = 0; u < units; ++u)
        for (int p = 0; p < parts; ++p) CHECK(h[std::size_t(u * parts + p)] == float(300 * u + 3) + float(p));
    }
  emu::set_order(emu::Order::forward);
  // A pass scheduled before its unit's reductions would wait forever on a GPU (then trap); here the
  // launch fails with the reason.
  CUDA_CHECK(cudaMemset(sync, 0, sizeof(int) * cuda::PipeSync::ints(units)));
  const std::string a = failure([&] {
    NL_LAUNCH(pipe_toy, 1, 64, 0, out, part, total, cuda::PipeSync{sync, units}, cuda::PipeOrder{units, parts, 1},
              true);
  });
  INFO(a);
  CHECK(a.find("version 6 pipeline: a pass waits for a unit no earlier item finished") != std::string::npos);
  CHECK(a.find("kernel pipe_toy") != std::string::npos);
  cudaFree(out);
  cudaFree(part);
  cudaFree(total);
  cudaFree(sync);
}
