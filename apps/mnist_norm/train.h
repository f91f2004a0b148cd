// Training and evaluation of one model, and the study (several norms x seeds).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/schedule.h"
#include "layers/batch_loader.h"
#include "layers/mnist_net.h"
#include "layers/norm.h"

namespace normlab::app {

struct TrainConfig {
  std::vector<Norm> norms{Norm::bn};
  std::string arch = kDefaultArch;  // the body of the network (layers/mnist_net.h)
  int groups = 2;
  bool ln_per_element = false;
  double l1 = 0;                 // applied to the BN model only when several norms are trained
  double weight_decay = 0;
  double lr = 0.15;              // the study's recipe (README, docs/results-cpu.md configuration 9)
  double momentum = 0.9;
  bool nesterov = true;
  std::string schedule = "onecycle";
  double warmup = 0.4;     // onecycle: fraction of the steps spent rising to the peak
  double dropout = 0.05;
  double rotate_deg = 7.0;
  int epochs = 20;
  int batch = 128;
  int eval_batch = 1000;  // test images per evaluation batch
  uint64_t seed = 1;
  int seeds = 1;
  std::string data;
  std::string out;
  int threads = 0;  // 0 = every hardware thread
  int64_t train_limit = 0;
  int64_t test_limit = 0;
  std::string device = "cpu";
  bool resume = false;     // continue the run or study in `out` (its command.json) where it stopped
  bool overwrite = false;  // train into a folder that holds a previous run
  bool profile = false;    // per-op times of the training passes: printed and written to profile.csv
  bool cuda_graph = true;  // --device cuda: replay each full batch's step as one CUDA Graph
  bool cuda_branches = false;  // --device cuda: weight gradients on a second stream (core/device.h)
  int jobs = 1;            // --device cuda: runs of a study trained side by side (threads, streams)
};

struct EpochMetrics {
  int epoch;
  double train_loss, train_acc, test_loss, test_acc, seconds;
};

struct RunResult {
  std::string dir;
  Norm norm;
  uint64_t seed;
  int64_t params;
  std::vector<EpochMetrics> epochs;
  std::string status = "ok";  // ok, diverged (stopped, exit 3) or below_sanity (finished without learning)
  std::string failure;        // the divergence message
};

// A run that ends below this test accuracy is flagged: it did not learn (chance is 10%).
constexpr double kSanityAccuracy = 20.0;

// The L1 strength a run of norm n gets: cfg.l1 when it trains alone, otherwise only the norms the
// study gives L1 (BN, norm_table()).
double run_l1(const TrainConfig& cfg, Norm n);

// Creates the --out folder (and its parents); InputError naming it when it cannot be created or
// written.
void make_out_dir(const std::string& out);

// Trains every (norm, seed) of cfg into its run folder; with one norm and one seed the folder is
// cfg.out itself, otherwise cfg.out/<norm>-s<seed>, plus summary.csv/json in cfg.out. With
// cfg.resume, finished runs are kept and an interrupted one continues after its last epoch.
// Returns the exit code: 0, or 3 when a run diverged (a study goes on with its other runs); the
// runs' results (finished, kept or diverged) go to *results when it is given.
int run_training(const TrainConfig& cfg, std::vector<RunResult>* results = nullptr);

}  // namespace normlab::app
