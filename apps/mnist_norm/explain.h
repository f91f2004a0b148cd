// `mnist_norm explain`: BN, GN and LN worked by hand (plain double loops) on a small tensor of real
// activations of the network, then the framework's own layers on the same tensor, compared.
#pragma once
#include <cstdint>
#include <string>

namespace normlab::app {

struct ExplainConfig {
  std::string data;
  std::string checkpoint;  // a BN run's model.ckpt; empty = freshly initialised network
  uint64_t seed = 1;
};

// Prints the worked example; its last three lines are "bn max_abs_diff=<x>", "gn ...", "ln ...".
int run_explain(const ExplainConfig& cfg);

}  // namespace normlab::app
