// Learning-rate schedules as transformers computes them (get_cosine_schedule_with_warmup,
// get_linear_schedule_with_warmup, constant_with_warmup), as a function of the optimizer step.
//   cosine: lr0 * step / W during warmup, then lr0 * max(0, 0.5 (1 + cos(pi (step - W) / (T - W))))
// Warmup steps = warmup_steps if > 0, else ceil(warmup_ratio * T).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "vlm/core/error.hpp"

namespace vlm::train {

struct lr_schedule {
  std::string type = "cosine";  // cosine | linear | constant | constant_with_warmup
  double lr = 1e-4;
  std::int64_t total_steps = 1;
  std::int64_t warmup_steps = 0;

  static std::int64_t warmup_from(double ratio, std::int64_t explicit_steps, std::int64_t total) {
    return explicit_steps > 0 ? explicit_steps : static_cast<std::int64_t>(std::ceil(ratio * static_cast<double>(total)));
  }

  // Learning rate used for the optimizer step that follows `step` completed steps.
  double at(std::int64_t step) const {
    const double W = static_cast<double>(warmup_steps), T = static_cast<double>(total_steps), s = static_cast<double>(step);
    if (type == "constant") return lr;
    if (s < W) return lr * s / std::max(1.0, W);
    if (type == "constant_with_warmup") return lr;
    const double progress = (s - W) / std::max(1.0, T - W);
    if (type == "linear") return lr * std::max(0.0, 1.0 - progress);
    if (type == "cosine") return lr * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    fail<config_error>("[lr_scheduler_type] '", type, "' unsupported (cosine, linear, constant, constant_with_warmup)");
  }
};

}  // namespace vlm::train
