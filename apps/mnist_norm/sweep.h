// `mnist_norm sweep`: the batch-size experiment of the Group Norm paper (Wu & He, 2018, fig. 1 and
// table 2), on MNIST. Every norm and seed of the training options is trained at every batch size B
// of the list, into <out>/b<B>/ (a study folder each), with
//   learning rate  lr_B = lr * B / base_batch      (the linear scaling rule, Goyal et al. 2017)
//   training       the same number of epochs (so the same number of images) at every B,
// and evaluated as every run is: BN with its running statistics. Writes <out>/sweep.csv (one row per
// run), <out>/sweep_summary.csv (per batch and norm: final test accuracy mean, std, min, max) and the
// figure batch_sweep.png/.svg (final test error vs batch size, log2 axis, min-max error bars).
// Run again with the same options to continue an interrupted sweep: finished runs are kept.
#pragma once
#include <string>
#include <vector>

#include "apps/mnist_norm/train.h"

namespace normlab::app {

struct SweepConfig {
  std::vector<int> batches{2, 4, 8, 16, 32, 64, 128};
  int base_batch = 128;  // the batch at which the learning rate is --lr
};

// Parses "2,4,8": positive integers, each once (InputError naming --batches otherwise).
std::vector<int> parse_batches(const std::string& list);

// Returns the exit code: 0, or 3 when a run diverged (the sweep goes on and records it).
int run_sweep(const TrainConfig& base, const SweepConfig& sw);

}  // namespace normlab::app
