// Learning-rate schedules as transformers computes them (get_cosine_schedule_with_warmup,
// get_linear_schedule_with_warmup, constant_with_warmup), as a function of the optimizer step.
//   cosine: lr0 * step / W during warmup, then lr0 * max(0, 0.5 (1 + cos(pi (step - W) / (T - W))))
//   cosine_with_min_lr: as cosine, the factor mapped to min_lr_rate + (1 - min_lr_rate) * factor
//   (transformers' get_cosine_with_min_lr_schedule_with_warmup; lr_scheduler_kwargs
//   {"min_lr_rate": r} or {"min_lr": m}, i.e. r = m / lr0).
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
  std::string type = "cosine";  // cosine | cosine_with_min_lr | linear | constant | constant_with_warmup
  double lr = 1e-4;
  std::int64_t total_steps = 1;
  std::int64_t warmup_steps = 0;
  double min_lr_rate = 0;  // cosine_with_min_lr only

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
    const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    if (type == "cosine") return lr * std::max(0.0, cosine);
    if (type == "cosine_with_min_lr") return lr * std::max(0.0, min_lr_rate + (1.0 - min_lr_rate) * cosine);
    fail<config_error>("[lr_scheduler_type] '", type,
                       "' unsupported (cosine, cosine_with_min_lr, linear, constant, constant_with_warmup)");
  }
};

}  // namespace vlm::train
