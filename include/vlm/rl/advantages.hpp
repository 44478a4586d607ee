// GRPO advantages from rewards, exactly as TRL GRPOTrainer / ms-swift compute them:
//   rewards [P * G]  (P prompts, G = num_generations completions each, grouped consecutively:
//                     rows 0..G-1 are prompt 0's completions, as TRL's RepeatSampler orders them)
//   A_i = (r_i - mean_g) / (std + 1e-4)   with std by scale_rewards:
//     group (default): std of the group, torch.std (unbiased, N - 1)
//     batch          : std of the whole batch (torch.std over all P * G rewards); centre stays the group mean
//     none           : no division, A_i = r_i - mean_g
//   (TRL 0.22.2 grpo_trainer.py lines 1395-1415; TRL 0.16-0.21: bool, true = group, false = none;
//   spec training_rl_serving.md section 4.4.)  Equal rewards in a group give A = 0, not NaN.
// Also the logged reward metrics (section 4.6) and nan-aware per-function mean/std.
// Statistics are computed in double and the advantages rounded once to f32; TRL computes in f32,
// the difference is below 1e-6 relative. vlm::cuda: CUB segmented reductions + one kernel, same
// results (include under nvcc with VLM_WITH_CUDA; see backends/cuda/kernels/grpo_advantages.cuh).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/core/config.hpp"
#include "vlm/core/error.hpp"   // config_error, shape_error, numeric_error
#include "vlm/core/tensor.hpp"  // tensor<float, cpu>, tensor<float, cuda>

#if VLM_CUDA_KERNELS
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <cub/device/device_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>

#include "vlm/backends/cuda/check.hpp"
#include "vlm/backends/cuda/kernels/grpo_advantages.cuh"
#endif

namespace vlm::rl {

enum class scale_rewards { group, batch, none };

// "group" | "batch" | "none", and TRL <= 0.21's booleans "true" (= group) / "false" (= none).
// throws: config_error naming the accepted values.
inline scale_rewards parse_scale_rewards(std::string_view s) {
  if (s == "group" || s == "true" || s == "True") return scale_rewards::group;
  if (s == "batch") return scale_rewards::batch;
  if (s == "none" || s == "false" || s == "False") return scale_rewards::none;
  fail<config_error>("[grpo] scale_rewards '", s, "' is not one of: group, batch, none (or true = group, false = none)");
}
inline const char* to_string(scale_rewards m) {
  switch (m) {
    case scale_rewards::group: return "group";
    case scale_rewards::batch: return "batch";
    case scale_rewards::none: return "none";
  }
  return "?";
}

inline constexpr double advantage_eps = 1e-4;       // both libraries: std + 1e-4
inline constexpr double zero_std_atol = 1e-8;       // torch.isclose(std, 0): atol 1e-8, rtol irrelevant at 0

// The reward metrics logged per generation batch (spec section 4.6, ms-swift 3.12 names).
struct reward_stats {
  double reward = 0;                // mean over groups of the group means
  double reward_std = 0;            // mean of the group stds; the batch std when scale_rewards = batch
  double frac_reward_zero_std = 0;  // fraction of groups whose rewards are all equal (group std ~ 0)
};

struct advantages_result {
  std::vector<float> advantages;  // [P * G]
  std::vector<double> group_mean;  // [P]
  std::vector<double> group_std;   // [P], unbiased
  double batch_std = 0;            // unbiased std of all rewards
  reward_stats stats;
};

namespace detail {
inline void check_geometry(std::size_t n, int num_generations) {
  VLM_CHECK_AS(config_error, num_generations >= 2, "num_generations must be >= 2 (the group std divides by G - 1), got ",
               num_generations);
  VLM_CHECK_AS(shape_error, n > 0 && n % static_cast<std::size_t>(num_generations) == 0, n,
               " rewards are not a whole number of groups of num_generations = ", num_generations,
               ". Hint: rewards are [num_prompts * num_generations], each prompt's completions consecutive");
}
// group_values: the G rewards of group `group`, the first at index first.
inline void check_finite(double group_sum, std::size_t group, std::span<const float> group_values, std::size_t first) {
  if (std::isfinite(group_sum)) return;
  for (std::size_t k = 0; k < group_values.size(); ++k)
    if (!std::isfinite(group_values[k]))
      fail<numeric_error>("[grpo] reward ", first + k, " (group ", group, ") is ",
                          std::isnan(group_values[k]) ? std::string("nan") : std::to_string(group_values[k]),
                          "; advantages need finite rewards. Hint: combine the reward functions with "
                          "weighted_reward_sum, which skips None (NaN) like ms-swift's nansum");
  fail<numeric_error>("[grpo] the rewards of group ", group, " sum to ", group_sum, " (overflow)");
}
// Finishes stats from group means/stds (shared by the CPU and CUDA paths).
inline reward_stats make_stats(const std::vector<double>& mean, const std::vector<double>& std, double batch_std,
                               scale_rewards mode) {
  reward_stats s;
  double m = 0, sd = 0, zero = 0;
  for (std::size_t g = 0; g < mean.size(); ++g) {
    m += mean[g];
    sd += std[g];
    zero += std::fabs(std[g]) <= zero_std_atol ? 1.0 : 0.0;
  }
  const double P = static_cast<double>(mean.size());
  s.reward = m / P;
  s.reward_std = mode == scale_rewards::batch ? batch_std : sd / P;
  s.frac_reward_zero_std = zero / P;
  return s;
}
}  // namespace detail

// requires: num_generations >= 2; rewards.size() a positive multiple of it; finite rewards.
// ensures:  advantages have zero mean per group (exactly 0 for a group of equal rewards), do not
//           change when a constant is added to every reward, and scale with 1 / (std + 1e-4).
// throws:   config_error (G < 2), shape_error (not whole groups), numeric_error (NaN/Inf reward).
inline advantages_result group_advantages(std::span<const float> rewards, int num_generations,
                                          scale_rewards mode = scale_rewards::group) {
  detail::check_geometry(rewards.size(), num_generations);
  const std::size_t G = static_cast<std::size_t>(num_generations), N = rewards.size(), P = N / G;
  advantages_result r;
  r.group_mean.resize(P);
  r.group_std.resize(P);
  double total = 0;
  for (std::size_t g = 0; g < P; ++g) {
    double s = 0;
    for (std::size_t k = 0; k < G; ++k) s += rewards[g * G + k];
    detail::check_finite(s, g, rewards.subspan(g * G, G), g * G);
    const double mean = s / static_cast<double>(G);
    double ss = 0;
    for (std::size_t k = 0; k < G; ++k) ss += (rewards[g * G + k] - mean) * (rewards[g * G + k] - mean);
    r.group_mean[g] = mean;
    r.group_std[g] = std::sqrt(ss / static_cast<double>(G - 1));
    total += s;
  }
  const double batch_mean = total / static_cast<double>(N);
  double bss = 0;
  for (float x : rewards) bss += (x - batch_mean) * (x - batch_mean);
  r.batch_std = std::sqrt(bss / static_cast<double>(N - 1));
  r.advantages.resize(N);
  for (std::size_t i = 0; i < N; ++i) {
    const std::size_t g = i / G;
    const double centred = rewards[i] - r.group_mean[g];
    const double sd = mode == scale_rewards::group ? r.group_std[g] : r.batch_std;
    r.advantages[i] = static_cast<float>(mode == scale_rewards::none ? centred : centred / (sd + advantage_eps));
  }
  r.stats = detail::make_stats(r.group_mean, r.group_std, r.batch_std, mode);
  return r;
}

// Rewards as double (reward functions return doubles) are rounded to f32 first, as TRL's
// float32 rewards tensor does.
inline advantages_result group_advantages(std::span<const double> rewards, int num_generations,
                                          scale_rewards mode = scale_rewards::group) {
  std::vector<float> f(rewards.begin(), rewards.end());
  return group_advantages(std::span<const float>(f), num_generations, mode);
}

// Tensor form: rewards [N] (any strides) -> advantages [N]; stats written when asked for.
inline tensor<float, cpu> group_advantages(const tensor<float, cpu>& rewards, int num_generations,
                                           scale_rewards mode = scale_rewards::group, reward_stats* stats = nullptr) {
  VLM_CHECK_AS(shape_error, rewards.dim() == 1, "rewards must be [num_prompts * num_generations], got ",
               rewards.shape().str());
  const auto host = rewards.to_vector();
  auto r = group_advantages(std::span<const float>(host), num_generations, mode);
  if (stats) *stats = r.stats;
  return tensor<float, cpu>::from_host({rewards.numel()}, std::span<const float>(r.advantages));
}

// Mean and unbiased std of the non-NaN values (ms-swift/TRL `rewards/<Func>/mean|std`, TRL's
// nanmean / nanstd with Bessel's correction). count = non-NaN values; mean NaN when 0, std NaN when < 2.
struct nan_mean_std_result {
  double mean = 0, std = 0;
  std::int64_t count = 0;
};
template <class R>
nan_mean_std_result nan_mean_std(std::span<const R> values) {
  nan_mean_std_result r;
  double s = 0;
  for (R v : values)
    if (!std::isnan(static_cast<double>(v))) {
      s += static_cast<double>(v);
      ++r.count;
    }
  if (r.count == 0) return {NAN, NAN, 0};
  r.mean = s / static_cast<double>(r.count);
  double ss = 0;
  for (R v : values)
    if (!std::isnan(static_cast<double>(v))) ss += (static_cast<double>(v) - r.mean) * (static_cast<double>(v) - r.mean);
  r.std = r.count >= 2 ? std::sqrt(ss / static_cast<double>(r.count - 1)) : NAN;
  return r;
}
template <class R>
nan_mean_std_result nan_mean_std(const std::vector<R>& values) {
  return nan_mean_std(std::span<const R>(values));
}

#if VLM_CUDA_KERNELS
// vlm::cuda: the same numbers. Group sums and squared deviations by
// cub::DeviceSegmentedReduce (f64), the batch ones by cub::DeviceReduce, then one kernel writes
// the advantages. Synchronises once (P group statistics come back to the host for the finite
// check and the stats).
inline tensor<float, cuda> group_advantages(const tensor<float, cuda>& rewards, int num_generations,
                                            scale_rewards mode = scale_rewards::group, reward_stats* stats = nullptr,
                                            cudaStream_t s = 0) {
  VLM_CHECK_AS(shape_error, rewards.dim() == 1, "rewards must be [num_prompts * num_generations], got ",
               rewards.shape().str());
  detail::check_geometry(static_cast<std::size_t>(rewards.numel()), num_generations);
  auto rc = rewards.contiguous();
  const std::int64_t N = rc.numel(), G = num_generations, P = N / G;
  VLM_CHECK_AS(shape_error, P + 1 <= std::numeric_limits<int>::max(), "too many groups for a segmented reduce: ", P);
  // stat layout (double): [0, P) group sums, turned into means in place; [P, 2P) squared
  // deviations about the group means; 2P the batch sum -> mean; 2P + 1 the batch squared deviation.
  auto stat = tensor<double, cuda>::empty({2 * P + 2});
  double* sums = stat.data();
  double* ssd = sums + P;
  double* bsum = sums + 2 * P;
  double* bssd = bsum + 1;
  auto as_double = thrust::make_transform_iterator(rc.data(), cuda_detail::float_to_double{});
  auto offsets = thrust::make_transform_iterator(thrust::make_counting_iterator<std::int64_t>(0), cuda_detail::times_g{G});
  auto dev_group = thrust::make_transform_iterator(thrust::make_counting_iterator<std::int64_t>(0),
                                                   cuda_detail::group_sq_dev{rc.data(), sums, G});
  auto dev_batch = thrust::make_transform_iterator(thrust::make_counting_iterator<std::int64_t>(0),
                                                   cuda_detail::batch_sq_dev{rc.data(), bsum, N});
  const cuda_detail::add_double add{};
  auto run = [&](auto&& call) {  // CUB's two-phase protocol: size query, then the reduction
    std::size_t bytes = 0;
    VLM_CUDA_CHECK(call(nullptr, bytes));
    auto scratch = tensor<std::uint8_t, cuda>::empty({static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1))});
    VLM_CUDA_CHECK(call(scratch.data(), bytes));
  };
  run([&](void* p, std::size_t& b) {
    return cub::DeviceSegmentedReduce::Reduce(p, b, as_double, sums, static_cast<int>(P), offsets, offsets + 1, add, 0.0, s);
  });
  run([&](void* p, std::size_t& b) { return cub::DeviceReduce::Reduce(p, b, as_double, bsum, N, add, 0.0, s); });
  // Means first (the deviations read them), then squared deviations about the means.
  cuda_detail::grpo_group_means_kernel<<<cuda_detail::grpo_grid(P + 1), 256, 0, s>>>(sums, P, G, bsum, N);
  VLM_CUDA_LAUNCHED("grpo_group_means_kernel");
  run([&](void* p, std::size_t& b) {
    return cub::DeviceSegmentedReduce::Reduce(p, b, dev_group, ssd, static_cast<int>(P), offsets, offsets + 1, add, 0.0, s);
  });
  run([&](void* p, std::size_t& b) { return cub::DeviceReduce::Reduce(p, b, dev_batch, bssd, N, add, 0.0, s); });
  auto out = tensor<float, cuda>::empty({N});
  cuda_detail::grpo_advantages_kernel<<<cuda_detail::grpo_grid(N), 256, 0, s>>>(
      out.data(), rc.data(), sums, ssd, bssd, N, G, static_cast<int>(mode == scale_rewards::group ? 0
                                                                      : mode == scale_rewards::batch ? 1 : 2),
      advantage_eps);
  VLM_CUDA_LAUNCHED("grpo_advantages_kernel");
  std::vector<double> host(static_cast<std::size_t>(2 * P + 2));
  VLM_CUDA_CHECK(cudaMemcpyAsync(host.data(), stat.data(), host.size() * sizeof(double), cudaMemcpyDeviceToHost, s));
  VLM_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<double> mean(host.begin(), host.begin() + P), sd(static_cast<std::size_t>(P));
  for (std::size_t g = 0; g < sd.size(); ++g) sd[g] = std::sqrt(host[sd.size() + g] / static_cast<double>(G - 1));
  for (std::int64_t g = 0; g < P; ++g)
    if (!std::isfinite(mean[static_cast<std::size_t>(g)])) {
      const auto h = rc.narrow(0, g * G, G).to_vector();
      detail::check_finite(mean[static_cast<std::size_t>(g)], static_cast<std::size_t>(g), std::span<const float>(h),
                           static_cast<std::size_t>(g * G));
    }
  const double batch_std = std::sqrt(host[static_cast<std::size_t>(2 * P + 1)] / static_cast<double>(N - 1));
  if (stats) *stats = detail::make_stats(mean, sd, batch_std, mode);
  return out;
}
#else
// Without nvcc + VLM_WITH_CUDA the CUDA overload exists only to say why it cannot be used.
template <class T>
tensor<T, cuda> group_advantages(const tensor<T, cuda>&, int, scale_rewards = scale_rewards::group,
                                 reward_stats* = nullptr) {
  static_assert(dependent_false_v<T>, "vlm::rl::group_advantages on vlm::cuda needs VLM_CUDA=ON (link vlm::cuda) "
                                      "and a TU compiled by nvcc");
  return {};
}
#endif

}  // namespace vlm::rl
