// Small helpers for the app: reading files, timestamps. (Atomic writes: core/file.h.)
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/file.h"

namespace normlab::app {

std::string read_file(const std::string& path);
// A run's metrics.csv: one map per epoch, column name -> value (InputError naming the file when it
// is missing, has a short row or no epochs).
std::vector<std::map<std::string, double>> read_metrics(const std::string& path);
// The mean and the sample standard deviation (0 for a single value) of a non-empty list.
std::pair<double, double> mean_std(const std::vector<double>& v);
std::string timestamp();  // e.g. 20261124-071503, local time
bool stdout_is_terminal();

}  // namespace normlab::app
