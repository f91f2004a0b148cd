// Resumable runs: what a run folder holds so that a run killed at any moment (SIGKILL, power cut)
// continues from its last complete epoch and ends with the same bytes as an uninterrupted run.
//
//   command.json  every training option of the run or study (written first; --resume reads it)
//   resume.ckpt   written atomically at the end of every epoch: parameters, buffers (BN running
//                 statistics), SGD velocities, the epoch and step reached, the metrics so far. The
//                 data order, augmentation and dropout are functions of (seed, epoch, step), so no
//                 other random state exists. Removed once the run has finished (results.json).
#pragma once
#include <string>
#include <vector>

#include "apps/mnist_norm/train.h"
#include "layers/module.h"
#include "layers/optim.h"

namespace normlab::app {

struct RunState {
  int epochs_done = 0;
  long step = 0;
  double data_seconds = 0, eval_seconds = 0;
  std::vector<EpochMetrics> epochs;
};

// command.json's text: every option of cfg, as JSON.
std::string command_text(const TrainConfig& cfg);
void save_command(const std::string& dir, const TrainConfig& cfg);
// The options saved by save_command; throws InputError naming the file when it is missing or bad.
TrainConfig load_command(const std::string& dir);

// Host copies of the model and optimizer state, whatever their device.
void save_run_state(const std::string& dir, Sequential& net, Sgd& opt, const RunState& st, int total_epochs);
// Restores net and opt (on their device) and returns true when dir holds a resume.ckpt.
bool load_run_state(const std::string& dir, Sequential& net, Sgd& opt, RunState& st, int total_epochs);
void remove_run_state(const std::string& dir);

}  // namespace normlab::app
