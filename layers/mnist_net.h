// The MNIST network of the study, composed from a Norm and an architecture string.
//
// The default architecture, kDefaultArch = "8,12,t8,m,12,16,16,12p" (the study's, 7,928 parameters):
//   block 1   Conv 1->8 3x3 (26x26)  norm ReLU drop    Conv 8->12 3x3 (24x24) norm ReLU drop
//   trans     Conv 12->8 1x1 (24x24)  MaxPool 2x2 (12x12)
//   block 2   Conv 8->12 3x3 (10x10) norm ReLU drop    Conv 12->16 3x3 (8x8) norm ReLU drop
//             Conv 16->16 3x3 (6x6)  norm ReLU drop    Conv 16->12 3x3 pad 1 (6x6) norm ReLU
//   head      GlobalAvgPool  Conv 12->10 1x1  Flatten  -> logits [N, 10]
// The string lists the body, left to right, as comma-separated items:
//   N    Conv 3x3 (no padding) to N channels, then norm, ReLU and (if dropout > 0) Dropout — the
//        last two as one fused layer, ReLUDropout (layers/basic.h), numbered as two
//   Np   the same with padding 1 (the map keeps its size)
//   tN   Conv 1x1 to N channels (a transition; no norm)
//   m    MaxPool 2x2
// The head is always GlobalAvgPool, Conv 1x1 to 10 classes, Flatten. The last 3x3 block has no dropout.
// Convolutions have no bias (every one is followed by a norm's beta, or is the 1x1 transition/head).
// 7,776 conv weights + 2 * 76 norm affine parameters = 7,928 parameters for BN, GN (any G) and LN
// with the default per-channel affine. LN with a per-element affine would add 2*C*H*W per layer
// (2*8*26*26 = 10,816 for the first alone), far over the 8k budget: see README.
#pragma once
#include <memory>
#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "layers/module.h"
#include "layers/norm.h"

namespace normlab {

inline constexpr const char* kDefaultArch = "8,12,t8,m,12,16,16,12p";
// The default before the < 8k study (9,752 parameters): what a command.json or config.json written
// without an "arch" key was trained with.
inline constexpr const char* kFirstStudyArch = "8,16,t8,m,16,16,16,16p";

// A malformed architecture string, or one whose maps shrink below 1x1; what() says which item.
struct ArchError : InputError {
  using InputError::InputError;
};

struct NetConfig {
  Norm norm = Norm::bn;
  std::string arch = kDefaultArch;
  NormConfig norm_cfg;
  double dropout = 0.0;
};

std::unique_ptr<Sequential> build_mnist_net(const NetConfig& cfg, Rng& rng, DType dtype = DType::f32);

}  // namespace normlab
