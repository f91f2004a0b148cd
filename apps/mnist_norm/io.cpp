#include "apps/mnist_norm/io.h"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/file.h"

namespace normlab::app {

std::string read_file(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw InputError(path + ": cannot open");
  std::ostringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

std::vector<std::map<std::string, double>> read_metrics(const std::string& path) {
  std::ifstream is(path);
  if (!is) throw InputError(path + ": not found; `plot` needs a folder written by mnist_norm training");
  std::string line;
  std::getline(is, line);
  std::vector<std::string> head;
  {
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, ',')) head.push_back(c);
  }
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(is, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string c;
    std::map<std::string, double> row;
    for (const auto& h : head) {
      if (!std::getline(ss, c, ',')) throw InputError(path + ": short row '" + line + "'");
      row[h] = std::stod(c);
    }
    rows.push_back(row);
  }
  if (rows.empty()) throw InputError(path + ": no epochs recorded");
  return rows;
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y%m%d-%H%M%S", &tm);
  return b;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(s / static_cast<double>(v.size() - 1)) : 0.0};
}

}  // namespace normlab::app
