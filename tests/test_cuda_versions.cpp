// The CUDA kernels' versions against one another (kernels/cuda/versions.h), part of the cuda_parity
// program (tests/test_cuda.cpp has its main and the parity of every version with the CPU): the
// capped ranges of batch norm's versions 6 and 8 and group norm's 7 on large cases; on the
// emulator, which rounds every operation as written, each norm version's bits against the version
// before it, the chunked versions on every chunk size, conv2d's version 4 against version 2, and
// the fall-back from misaligned pointers.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/versions.h"
#include "kernels/groupnorm.h"
#include "tests/cuda_parity.h"
#include "tests/gpu_test.h"
#include "tests/op_cases.h"

using namespace normlab;
using namespace normlab::parity;
using test::randn;
using test::str;

// The two [large] cases (4.1M and 4.3M values) are left out of gpu-run.sh's sanitizer runs, which
// must fit in their time limit; the plain cuda_parity runs them.
// Version 8 takes version 6's ranges: on the emulator (which rounds every operation as written) its
// bits here are version 6's, in chunks of one channel (the emulator reports no L2).
TEST_CASE("cuda batch norm vs cpu: version 6's ranges capped at 4,096 values (version 5's hold 4,800)",
          "[cuda][norm][large]") {
  std::map<int, Outs> outs;
  cuda::for_each_version("batchnorm", [&](int v) {
    // The older versions take version 5's ranges, tested above; version 9 runs its one-block path
    // here (8,000 values a channel), which the smaller cases test. This case is large.
    if (v < 5 || v > 8) return;
    std::printf("-- batchnorm version %d\n", v);
    for (const auto& c : op_group("norm-large")) {
      if (c.name.rfind("batchnorm", 0) != 0) continue;
      check_case(c);
#ifdef NORMLAB_CUDA_EMULATE
      if (v == 6 || v == 8) outs[v] = c.run(Device::cuda);
#endif
    }
  });
#ifdef NORMLAB_CUDA_EMULATE
  REQUIRE(outs.size() == 2);
  REQUIRE(outs[6].size() == outs[8].size());
  for (std::size_t k = 0; k < outs[8].size(); ++k) {
    INFO(outs[8][k].name << ": version 8 against version 6");
    CHECK(same_bits(outs[6][k].t.to_vector(), outs[8][k].t.to_vector()));
  }
#endif
}
// Group norm's version 7 caps the forward's chunks of values at 4,096 (kernels/cuda/norm_chunks_v7.cuh):
// the large case's 4 segments of 1,064,960 values, which versions 2-6 cut into chunks of 4,160, it
// cuts into 260 chunks of 4,096 (other sums, so other bits than version 6's). Against the CPU, twice
// with the same bits, and in 4 chunks of one segment (an L2 plan of one segment's forward) with the
// bits of one chunk (a plan of 2^40 bytes).
TEST_CASE("cuda group norm vs cpu: version 7's chunks of values capped at 4,096 (version 6's hold 4,160)",
          "[cuda][norm][large]") {
  const cuda::VersionGuard guard("groupnorm");
  cuda::set_kernel_version("groupnorm", 7);
  int checked = 0;
  for (const auto& c : op_group("norm-large")) {
    if (c.name.rfind("groupnorm", 0) != 0) continue;
    check_case(c);
    cuda::set_l2_plan_bytes(std::size_t(1064960) * sizeof(float) * 3);  // one segment's x, x and y: 4 chunks
    const Outs chunks = c.run(Device::cuda);
    cuda::set_l2_plan_bytes(std::size_t(1) << 40);  // one chunk
    const Outs one = c.run(Device::cuda);
    REQUIRE(chunks.size() == one.size());
    for (std::size_t k = 0; k < one.size(); ++k) {
      INFO(one[k].name << ": 4 chunks against one");
      CHECK(same_bits(one[k].t.to_vector(), chunks[k].t.to_vector()));
    }
    ++checked;
  }
  CHECK(checked == 1);
}
// Version 4 fuses the activation into the norm's passes and recomputes z and the mask in its
// backward; versions 1-3 compose the norm with the activation's kernels. Version 4 computes the
// same expressions in the same order as version 3, so on the emulator, which rounds every
// operation as written (-ffp-contract=off, CMakeLists.txt), it must give version 3's bits: a mask
// recomputed differently from the forward's, anywhere, would show here. Version 5 runs the
// element-wise passes on quads of four values (kernels/cuda/vec4.cuh), the same expressions per
// value: version 4's bits, for the *_act ops and the plain ones (version 4's plain ops are version
// 3's), and a quad given the wrong channel, segment or parameter would show. Batch norm's version 6
// runs each direction as one kernel (kernels/cuda/batchnorm_v6.cu) from the same code as version 5's
// partial sums, finishing stages and per-value expressions; the test cases' ranges are version 5's
// (bn::ranges_v6), so it must give version 5's bits: a range, a channel or a coefficient taken
// from the wrong item would show. Version 7 (compared with 6) folds version 5's finishing warp into
// the element-wise pass: the same sums and expressions, version 5's bits; so does group and layer
// norm's version 6 (kernels/cuda/norm_finish_v6.cuh), where a block given another block's segment
// statistics or means would show. Batch norm's version 8 (compared with 7) runs version 7's blocks
// in chunks of channels, with version 6's ranges, which on these cases are version 5's; group and
// layer norm's version 7 (compared with 6) version 6's blocks in chunks of segments, with chunks of
// values capped at 4,096, which these cases' are under. Batch norm's version 9 (compared with 5)
// runs version 5 where a channel holds more than 16,384 values, and one block per channel where it
// holds fewer (kernels/cuda/batchnorm_v9.cu: other sums, so other bits; the parity with the CPU is
// the check there, and every one of its kernels must have run). Group and layer norm's version 8
// (compared with 7) runs version 5's code on one block per segment (kernels/cuda/norm_block_v8.cuh):
// the same sums in the same order, version 5's bits; a segment's chunk, plane or mean taken from the
// wrong place, or dgamma/dbeta added twice, would show.
// Emulator only: nvcc fuses multiply-adds per kernel as it sees fit, so on a GPU the versions may
// differ in the last bits (the parity with the CPU above is the check there).
#ifdef NORMLAB_CUDA_EMULATE
namespace {
// Launches of batch norm version 9's one-block kernels so far (the emulator counts every kernel).
int64_t v9_launches() {
  int64_t n = 0;
  for (const auto& [name, count] : emu::kernel_counts())
    if (name.rfind("(bn_forward_v9<", 0) == 0 || name.rfind("(bn_backward_v9<", 0) == 0) n += count;
  return n;
}
}  // namespace

TEST_CASE("cuda norms: version 4 (fused) gives version 3's (composed) bits, version 5 (quads) version 4's, "
          "batch norm's version 6 (one kernel), 7 (finishing folded in) and 8 (channel chunks) version 5's, and 9 "
          "where a channel exceeds its one block, group and layer norm's version 6 (finishing folded in), 7 "
          "(segment chunks) and 8 (a block per segment) version 5's",
          "[cuda][norm]") {
  for (const std::string op : {"batchnorm", "groupnorm", "layernorm"})
    for (const auto& c : op_group("norm")) {
      if (c.name.rfind(op, 0) != 0) continue;
      std::vector<Outs> by_version(1);
      bool one_block = false;  // batch norm's version 9 took its one-block path on this case
      cuda::for_each_version(op, [&](int v) {
        const int64_t before = v9_launches();
        by_version.push_back(c.run(Device::cuda));
        if (op == "batchnorm" && v == 9) one_block = v9_launches() > before;
      });
      for (int v = 4; v < int(by_version.size()); ++v) {
        // Batch norm's version 9 is version 5 where a channel does not fit in its one block (its
        // one-block path sums in another order: its parity with the CPU is the check there).
        const bool v9 = op == "batchnorm" && v == 9;
        if (v9 && one_block) continue;
        const Outs &before = by_version[std::size_t(v9 ? 5 : v - 1)], &now = by_version[std::size_t(v)];
        REQUIRE(before.size() == now.size());
        for (std::size_t k = 0; k < now.size(); ++k) {
          INFO(c.name << ": " << now[k].name << ", version " << v << " against " << (v9 ? 5 : v - 1));
          CHECK(same_bits(before[k].t.to_vector(), now[k].t.to_vector()));
        }
      }
    }
  // The quads, batch norm's versions 6 to 8 and group and layer norm's 6 to 8 ran, for the plain
  // ops and the *_act ops (quads: the cases with HW % 4 == 0).
  std::map<std::string, int64_t> ran;
  for (const auto& [name, count] : emu::kernel_counts()) ran[name] = count;
  for (const char* k :
       {"bn_apply_v5<false>", "bn_bwd_dx_v5<false>", "seg_apply_v5<false>", "seg_bwd_dx_v5<false>", "bn_apply_v5<true>",
        "bn_bwd_dx_v5<true>", "seg_apply_v5<true>", "seg_bwd_dx_v5<true>", "bn_forward_v6<false>",
        "bn_backward_v6<false>", "bn_forward_v6<true>", "bn_backward_v6<true>", "bn_apply_finish_v7<false>",
        "bn_bwd_dx_finish_v7<false>", "bn_apply_finish_v7<true>", "bn_bwd_dx_finish_v7<true>",
        "seg_apply_finish_v6<false>", "seg_bwd_dx_finish_v6<false>", "seg_apply_finish_v6<true>",
        "seg_bwd_dx_finish_v6<true>", "bn_forward_v8<false>", "bn_backward_v8<false>", "bn_forward_v8<true>",
        "bn_backward_v8<true>", "seg_forward_v7<false>", "planes_backward_v7_kernel<false>", "seg_forward_v7<true>",
        "planes_backward_v7_kernel<true>", "seg_forward_v8<false>", "seg_backward_v8<false>", "seg_forward_v8<true>",
        "seg_backward_v8<true>", "seg_affine_grads_v8"}) {
    INFO(k);
    CHECK(ran[k] > 0);
  }
  // Batch norm's version 9, every (activation, values per thread) instance each way.
  for (const char* k : {"(bn_forward_v9<false, 4>)", "(bn_forward_v9<false, 8>)", "(bn_forward_v9<false, 16>)",
                        "(bn_forward_v9<true, 4>)", "(bn_forward_v9<true, 8>)", "(bn_forward_v9<true, 16>)",
                        "(bn_backward_v9<false, 4>)", "(bn_backward_v9<false, 8>)", "(bn_backward_v9<false, 16>)",
                        "(bn_backward_v9<true, 4>)", "(bn_backward_v9<true, 8>)", "(bn_backward_v9<true, 16>)"}) {
    INFO(k);
    CHECK(ran[k] > 0);
  }
}

// The chunked versions — batch norm's 8 (kernels/cuda/batchnorm_v8.cu, chunks of channels), group
// and layer norm's 7 (kernels/cuda/norm_chunks_v7.cuh, chunks of segments) — run the blocks of the
// version before them in chunks + 1 launches each way, a chunk's element-wise pass one launch after
// its partial sums. The chunk size comes from the L2 plan (cuda::set_l2_plan_bytes; the emulator
// reports no L2, so by default every chunk is one channel or segment). Whatever the chunks — one,
// a few, a last one shorter, the whole tensor — each block computes what it computes in the version
// before, so every case of the op (plain and + ReLU) must give that version's bits: a pass launched
// before its chunk's partial sums, a channel or segment left out or run twice, or (group and layer
// norm) dgamma/dbeta added before the last chunk's plane sums, would show. Each plan runs with the
// launches' blocks in order and reversed: a pass that read partial sums of its own launch would see
// them written in one order and not in the other. Two cases per op also count the launches:
//   batch norm, 7 x 33 x 3 x 3: per channel 7 * 9 floats, times 3 tensors forward (756 bytes) and
//     5 backward (1,260 bytes), so 2,000 bytes give chunks of 2 channels forward (17 chunks, 18
//     launches) and 1 backward (34 launches); 20,000 bytes chunks of 26 forward (3 launches) and 15
//     backward (4); no L2 (0) 1 channel each way (34); 2^40 bytes one chunk, 2 launches;
//   group norm, 3 x 18 x 64, G = 2: 6 segments of 9 * 64 floats, 6,912 bytes forward and 11,520
//     backward, so 20,000 bytes give chunks of 2 segments forward (4 launches) and 1 backward (7);
//     40,000 bytes 5 and 3 (3 launches each way); 0 one segment (7); 2^40 one chunk (2);
//   layer norm, 4 x 12 x 10 x 10 (per-channel affine): 4 samples of 1,200 floats, 14,400 bytes
//     forward and 24,000 backward, so 30,000 bytes give chunks of 2 samples forward (3 launches)
//     and 1 backward (5); 50,000 bytes 3 and 2 (3 each way); 0 one sample (5); 2^40 one chunk (2).
// Group and layer norm's version 7 runs version 5 where quads do not apply (HW % 4 != 0) and for
// layer norm's per-element backward, so only batch norm requires a chunked launch in every case.
TEST_CASE("cuda norms: the chunked versions (batch norm 8, group and layer norm 7) give the bits of the version "
          "before on every chunk size",
          "[cuda][norm]") {
  struct Plan {
    std::size_t bytes;
    int64_t forward, backward;  // launches for the counted cases
  };
  struct Chunked {
    std::string op;
    int version;
    std::string forward_kernel, backward_kernel;  // emulator names, without <kAct>
    std::vector<std::string> counted;             // the cases whose launches are counted
    std::vector<Plan> plans;
    bool every_case_chunked;  // false: some cases run the version before (no quads, LN per-element)
  };
  const std::size_t whole = std::size_t(1) << 40;
  const std::vector<Chunked> ops = {
      {"batchnorm", 8, "bn_forward_v8", "bn_backward_v8",
       {"batchnorm N=7 C=33 3x3 (train, backward, eval)", "batchnorm N=7 C=33 3x3 + ReLU + dropout"},
       {{0, 34, 34}, {2000, 18, 34}, {20000, 3, 4}, {whole, 2, 2}},
       true},
      {"groupnorm", 7, "seg_forward_v7", "planes_backward_v7_kernel",
       {"groupnorm N=3 C=18 HW=64 G=2", "groupnorm N=3 C=18 8x8 G=2 + ReLU + dropout 0.3 (counter)"},
       {{0, 7, 7}, {20000, 4, 7}, {40000, 3, 3}, {whole, 2, 2}},
       false},
      {"layernorm", 7, "seg_forward_v7", "planes_backward_v7_kernel",
       {"layernorm N=4 C=12 10x10 per-channel affine", "layernorm N=4 C=12 10x10 + ReLU + dropout 0.3 (counter)"},
       {{0, 5, 5}, {30000, 3, 5}, {50000, 3, 3}, {whole, 2, 2}},
       false}};
  for (const Chunked& k : ops) {
    const cuda::VersionGuard guard(k.op);
    const auto launches = [](const std::string& kernel) {
      int64_t n = 0;
      for (const auto& [name, count] : emu::kernel_counts())
        if (name == kernel + "<false>" || name == kernel + "<true>") n += count;
      return n;
    };
    int counted = 0;
    for (const auto& c : op_group("norm")) {
      if (c.name.rfind(k.op, 0) != 0) continue;
      cuda::set_kernel_version(k.op, k.version - 1);
      const Outs want = c.run(Device::cuda);
      cuda::set_kernel_version(k.op, k.version);
      const bool count = std::find(k.counted.begin(), k.counted.end(), c.name) != k.counted.end();
      for (const Plan& p : k.plans)
        for (const bool reverse : {false, true}) {
          cuda::set_l2_plan_bytes(p.bytes);
          test::set_emulated_order(reverse);
          const int64_t f0 = launches(k.forward_kernel), b0 = launches(k.backward_kernel);
          const Outs got = c.run(Device::cuda);
          test::set_emulated_order(false);
          INFO(c.name << ", version " << k.version << ", L2 plan " << p.bytes << " bytes, blocks "
                      << (reverse ? "reversed" : "in order"));
          if (count) {
            CHECK(launches(k.forward_kernel) - f0 == p.forward);
            CHECK(launches(k.backward_kernel) - b0 == p.backward);
            ++counted;
          } else if (k.every_case_chunked) {
            CHECK(launches(k.forward_kernel) > f0);
          }
          REQUIRE(got.size() == want.size());
          for (std::size_t i = 0; i < got.size(); ++i) {
            INFO(got[i].name << " against version " << k.version - 1);
            CHECK(same_bits(want[i].t.to_vector(), got[i].t.to_vector()));
          }
        }
    }
    INFO(k.op);
    CHECK(counted == int(k.counted.size() * k.plans.size() * 2));  // every counted case, plan and order
  }
}

// Conv2d of shape s under version v on fixed inputs (seeds 1-4): y and dx (filled with NaN first),
// and dw and db accumulated onto `grad0`, as doubles.
std::vector<std::vector<double>> conv_outputs(const Conv2dShape& s, int v, double grad0) {
  const Shape ys{s.N, s.K, s.Ho(), s.Wo()};
  const Tensor x = randn({s.N, s.C, s.H, s.W}, 1, Device::cuda), w = randn({s.K, s.C, s.R, s.R}, 2, Device::cuda),
               b = randn({s.K}, 3, Device::cuda), dy = randn(ys, 4, Device::cuda);
  cuda::set_kernel_version("conv2d", v);
  Tensor y = Tensor::full(ys, NAN).to_device(Device::cuda), dx = Tensor::full(x.shape(), NAN).to_device(Device::cuda);
  Tensor dw = Tensor::full(w.shape(), grad0).to_device(Device::cuda),
         db = Tensor::full({s.K}, grad0).to_device(Device::cuda);
  cuda::conv2d_forward<float>(y.data<float>(), x.data<float>(), w.data<float>(), b.data<float>(), s);
  cuda::conv2d_backward_data<float>(dx.data<float>(), dy.data<float>(), w.data<float>(), s);
  cuda::conv2d_backward_weight<float>(dw.data<float>(), db.data<float>(), dy.data<float>(), x.data<float>(), s);
  return {y.to_vector(), dx.to_vector(), dw.to_vector(), db.to_vector()};
}

// Conv2d's version 4 (one thread per output position, kernels/cuda/conv2d.cu) adds each output's
// taps in version 2's order and leaves out only the taps version 2 takes from its zero padding,
// which add exactly +0 there: on the emulator, which rounds every operation as written, its
// forward and data gradient give version 2's bits, and its weight gradient (version 3's kernels)
// version 3's. The op cases' shapes (above) give version 4 one output channel per thread; these
// take the other counts too (positions / 128 blocks times the channel blocks against 512): 8
// channels of 1024 images of 8 x 8 give 8 channels per thread, of 600 images 4, of 300 images 2;
// a 1 x 1 and a padded 3 x 3 convolution, and data gradients of 8 input channels likewise.
TEST_CASE("cuda conv2d: version 4 (a thread per output position) gives version 2's bits, forward and data gradient, "
          "on every channel count per thread",
          "[cuda][conv]") {
  struct S {
    int N, C, H, W, K, R, pad;
  };
  for (S c : {S{1024, 2, 10, 10, 8, 3, 0}, S{600, 2, 10, 10, 8, 3, 0}, S{300, 2, 10, 10, 8, 3, 0},
              S{600, 3, 8, 8, 8, 1, 0}, S{300, 8, 8, 8, 3, 3, 1}, S{5, 3, 7, 9, 17, 3, 1}}) {
    const Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.pad};
    INFO(str("N=%d C=%d %dx%d K=%d %dx%d pad %d", c.N, c.C, c.H, c.W, c.K, c.R, c.R, c.pad));
    const auto run = [&](int v) { return conv_outputs(s, v, 0.0); };
    const cuda::VersionGuard guard("conv2d");
    const auto v2 = run(2), v3 = run(3), v4 = run(4);
    const auto finite = [](const std::vector<double>& v) {
      return std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
    };
    REQUIRE(finite(v4[0]));  // every output written (y and dx start as NaN)
    REQUIRE(finite(v4[1]));
    CHECK(same_bits(v4[0], v2[0]));  // y
    CHECK(same_bits(v4[1], v2[1]));  // dx
    CHECK(same_bits(v4[2], v3[2]));  // dw (version 3's kernels)
    CHECK(same_bits(v4[3], v3[3]));  // db
  }
}

// conv2d's version 5 keeps version 4's forward and data gradient and picks its weight gradient by
// shape (kernels/cuda/conv2d.cu, wgrad_v5_pick): version 1's where the output is 1 x 1, version 2's where
// fewer than 8 input channels, version 3's elsewhere. Each shape must give that version's bits for
// dw and db, and version 4's for y and dx: a rule that picked another version, or a version given
// the wrong shape, would show.
TEST_CASE("cuda conv2d: version 5 takes version 1's, 2's or 3's weight gradient by shape, and version 4's forward "
          "and data gradient",
          "[cuda][conv]") {
  struct S {
    int N, C, H, W, K, R, pad, want;  // want: the version whose weight gradient it must take
  };
  for (S c : {S{7, 1, 12, 12, 8, 3, 0, 2}, S{6, 5, 9, 9, 3, 3, 1, 2}, S{40, 12, 1, 1, 10, 1, 0, 1},
              S{9, 12, 3, 3, 10, 3, 0, 1}, S{5, 9, 7, 9, 17, 3, 1, 3}, S{4, 8, 6, 6, 5, 1, 0, 3}}) {
    const Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.pad};
    INFO(str("N=%d C=%d %dx%d K=%d %dx%d pad %d: version %d's weight gradient", c.N, c.C, c.H, c.W, c.K, c.R, c.R,
             c.pad, c.want));
    const auto run = [&](int v) { return conv_outputs(s, v, 0.5); };  // (the gradients accumulate onto 0.5)
    const cuda::VersionGuard guard("conv2d");
    const auto v4 = run(4), v5 = run(5), want = run(c.want);
    CHECK(same_bits(v5[0], v4[0]));    // y
    CHECK(same_bits(v5[1], v4[1]));    // dx
    CHECK(same_bits(v5[2], want[2]));  // dw (accumulated onto 0.5)
    CHECK(same_bits(v5[3], want[3]));  // db
    for (int other : {1, 2, 3}) {  // the three differ on these shapes, so the check above can tell them apart
      if (other == c.want) continue;
      INFO("version " << other << "'s weight gradient");
      CHECK_FALSE(same_bits(run(other)[2], want[2]));
    }
  }
}

// Version 5 takes quads only from 16-byte aligned pointers (a misaligned float4 access faults, on a
// GPU and on the emulator): with every tensor one float past an aligned address it runs version 4's
// kernels, and gives the bits it gives from aligned ones. Batch norm's version 6 likewise reads one
// value per thread there, and versions 7 and 8 too; group norm's version 6 runs version 5 there.
// Batch norm's version 9 runs this case's small channels on its one-block path, which reads one
// value at a time from any address: the same kernel aligned or not.
TEST_CASE("cuda norm + activation: versions 5 and up from misaligned pointers fall back to one value per thread",
          "[cuda][norm]") {
  const int N = 2, C = 3, HW = 16, G = 3;
  const int64_t n = int64_t(N) * C * HW;
  const std::vector<double> hx = randn({n}, 5, Device::cpu, DType::f32, 2.0).to_vector(),
                            hu = randn({n}, 6, Device::cpu).to_vector();
  // n + 1 floats holding v from float `shift` on
  auto at = [&](const std::vector<double>& v, int shift) {
    std::vector<double> w(std::size_t(n + 1), 0.0);
    std::copy(v.begin(), v.end(), w.begin() + shift);
    return Tensor::from({n + 1}, w).to_device(Device::cuda);
  };
  const Tensor g = randn({C}, 7, Device::cuda), b = randn({C}, 8, Device::cuda, DType::f32, 0.5);
  Activation<float> act;
  act.relu = true;
  act.p = 0.3f;
  act.seed.base = 99;
  // shift 0: x, dy, y and dx aligned; shift 1: all four one float past it
  auto run = [&](int shift, bool bn) {
    Tensor y = Tensor::zeros({n + 1}, DType::f32, Device::cuda), dx = Tensor::zeros({n + 1}, DType::f32, Device::cuda);
    Tensor mean = Tensor::zeros({N * G}, DType::f32, Device::cuda),
           rstd = Tensor::zeros({N * G}, DType::f32, Device::cuda);
    Tensor rm = Tensor::zeros({C}, DType::f32, Device::cuda), rv = Tensor::zeros({C}, DType::f32, Device::cuda);
    Tensor dg = Tensor::zeros({C}, DType::f32, Device::cuda), db = Tensor::zeros({C}, DType::f32, Device::cuda);
    const Tensor x0 = at(hx, shift), u0 = at(hu, shift);
    const float *xs = x0.data<float>() + shift, *us = u0.data<float>() + shift;
    float *ys = y.data<float>() + shift, *dxs = dx.data<float>() + shift;
    if (bn) {
      cuda::batchnorm_act_forward_train<float>(ys, mean.data<float>(), rstd.data<float>(), rm.data<float>(),
                                               rv.data<float>(), xs, g.data<float>(), b.data<float>(), N, C, HW,
                                               1e-5f, 0.1f, act);
      cuda::batchnorm_act_backward<float>(dxs, dg.data<float>(), db.data<float>(), us, mean.data<float>(),
                                          rstd.data<float>(), ys, xs, g.data<float>(), b.data<float>(), N, C, HW, act);
    } else {
      cuda::groupnorm_act_forward<float>(ys, mean.data<float>(), rstd.data<float>(), xs, g.data<float>(),
                                         b.data<float>(), N, C, HW, G, 1e-5f, act);
      cuda::groupnorm_act_backward<float>(dxs, dg.data<float>(), db.data<float>(), us, mean.data<float>(),
                                          rstd.data<float>(), ys, xs, g.data<float>(), b.data<float>(), N, C, HW, G,
                                          act);
    }
    std::vector<double> out = y.to_vector(), d = dx.to_vector();
    out.erase(out.begin() + (shift ? 0 : n));  // the n values written
    d.erase(d.begin() + (shift ? 0 : n));
    out.insert(out.end(), d.begin(), d.end());
    for (const Tensor* t : {&dg, &db}) {
      const auto v = t->to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  for (bool bn : {true, false}) {
    INFO((bn ? "batchnorm" : "groupnorm"));
    const std::string op = bn ? "batchnorm" : "groupnorm";
    int checked = 0;
    cuda::for_each_version(op, [&](int v) {
      if (v < 5) return;
      INFO("version " << v);
      const std::vector<double> aligned = run(0, bn), shifted = run(1, bn);
      REQUIRE(aligned.size() == std::size_t(2 * n + 2 * C));
      CHECK(same_bits(aligned, shifted));
      ++checked;
    });
    CHECK(checked == cuda::kernel_version_count(op) - 4);  // versions 5 and up
  }
}
#endif
