// Learning-rate schedules, as a function of the step index t in [0, total).
//   onecycle: cosine warm-up from max_lr/div to max_lr over the first pct of steps, then cosine
//             annealing to max_lr/(div*final_div) (Smith & Topin, 2018; PyTorch's OneCycleLR).
//   step:     max_lr * gamma^floor(epoch / step_epochs).
//   const:    max_lr.
#pragma once
#include <cmath>
#include <optional>
#include <string>

namespace normlab {

enum class Schedule { onecycle, step, constant };

inline std::optional<Schedule> parse_schedule(const std::string& s) {
  if (s == "onecycle") return Schedule::onecycle;
  if (s == "step") return Schedule::step;
  if (s == "const") return Schedule::constant;
  return std::nullopt;
}

struct LrSchedule {
  Schedule kind = Schedule::onecycle;
  double max_lr = 0.1;
  long total_steps = 1;
  long steps_per_epoch = 1;
  double pct = 0.2, div = 25, final_div = 1e4;  // onecycle
  int step_epochs = 6;                           // step
  double gamma = 0.1;                            // step

  double at(long t) const {
    switch (kind) {
      case Schedule::constant: return max_lr;
      case Schedule::step: return max_lr * std::pow(gamma, static_cast<double>((t / steps_per_epoch) / step_epochs));
      case Schedule::onecycle: {
        const double lo = max_lr / div, end = lo / final_div;
        const double warm = pct * static_cast<double>(total_steps);
        auto cosine = [](double a, double b, double f) { return b + (a - b) * 0.5 * (1 + std::cos(M_PI * f)); };
        if (t < warm) return cosine(lo, max_lr, t / warm);
        return cosine(max_lr, end, (t - warm) / std::max(1.0, total_steps - 1 - warm));
      }
    }
    return max_lr;
  }
};

}  // namespace normlab
