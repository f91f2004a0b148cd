// A study's pieces around the runs (apps/mnist_norm/train.cpp): runs side by side (--jobs), the
// summary of finished runs, and a run finished before, read back from its folder.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "apps/mnist_norm/train.h"

namespace normlab::app {

// Runs one(i) for i in [0, n) on up to `jobs` host threads, each taking the next i in order; the
// first exception is rethrown here once every thread has stopped (the others finish their run, no
// new one starts). Each thread has its own CUDA stream (core/cuda_check.h), so their runs' kernels
// run side by side on the GPU.
void side_by_side(std::size_t n, int jobs, const std::function<void(std::size_t)>& one);

// summary.csv and summary.json in `dir`, and the table on stdout: per norm, the mean and spread of
// the runs' final accuracy and loss and their seconds per epoch; runs that failed are listed.
void write_summary(const std::string& dir, const std::vector<RunResult>& runs, const std::vector<Norm>& norms,
                   const TrainConfig& cfg);

// A finished run of an earlier, interrupted study: its results and metrics as the summary needs them.
RunResult load_finished(const std::string& dir, Norm norm, uint64_t seed);

}  // namespace normlab::app
