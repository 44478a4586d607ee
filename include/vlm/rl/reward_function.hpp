// The reward-function interface for GRPO, shaped like ms-swift's ORM:
//   reward(completions, solution=..., **every_other_column) -> list[float | None]
// becomes a callable over a batch of reward_input (completion, solution, and a pointer to the
// whole dataset row so a reward can read any other column), returning one double per input.
// NaN plays the role of Python's None ("no reward for this row"): weighted_reward_sum skips it,
// as ms-swift's nansum does. Rewards are doubles like Python floats; the trainer converts.
#pragma once
#include <cmath>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"  // config_error

namespace vlm::rl {

struct reward_input {
  std::string completion;                 // the generated text
  std::string solution;                   // the dataset's "solution" column ("" if absent)
  const nlohmann::json* row = nullptr;    // the whole dataset row (every column), or null
};

// One value per input, in order. May throw; the caller decides whether that is fatal.
using reward_function = std::function<std::vector<double>(std::span<const reward_input>)>;

// Lifts a per-sample scorer double(const reward_input&) into a batch reward_function.
template <class F>
reward_function per_sample(F f) {
  return [f = std::move(f)](std::span<const reward_input> in) {
    std::vector<double> out;
    out.reserve(in.size());
    for (const auto& x : in) out.push_back(static_cast<double>(f(x)));
    return out;
  };
}

// total[i] = sum_k weights[k] * per_func[k][i], NaN terms skipped (ms-swift: nansum over the
// functions of rewards * reward_weights). Empty `weights` means all 1.
// throws: config_error if the weight count or a function's output length does not match.
inline std::vector<double> weighted_reward_sum(const std::vector<std::vector<double>>& per_func,
                                               std::span<const double> weights = {}) {
  if (!weights.empty() && weights.size() != per_func.size())
    throw config_error("[rewards] " + std::to_string(weights.size()) + " reward weights for " +
                       std::to_string(per_func.size()) +
                       " reward functions. Hint: give one --reward_weights value per --reward_funcs name");
  const std::size_t n = per_func.empty() ? 0 : per_func[0].size();
  std::vector<double> total(n, 0.0);
  for (std::size_t k = 0; k < per_func.size(); ++k) {
    if (per_func[k].size() != n)
      throw config_error("[rewards] reward function " + std::to_string(k) + " returned " +
                         std::to_string(per_func[k].size()) + " values, expected " + std::to_string(n));
    const double w = weights.empty() ? 1.0 : weights[k];
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isnan(per_func[k][i])) total[i] += w * per_func[k][i];
  }
  return total;
}

}  // namespace vlm::rl
