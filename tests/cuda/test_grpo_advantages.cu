// [cuda] GRPO advantages: vlm::rl::group_advantages on vlm::cuda (CUB segmented reductions +
// one kernel) against the CPU implementation on the same rewards, for every scale_rewards mode,
// awkward group sizes and counts, groups of equal rewards, a strided rewards view, the stats,
// and the non-finite-reward error. Without a GPU every case returns at once (the listener in
// test_elementwise_norm.cu then exits 77: skipped, not passed).
#include <span>
#include <vector>

#include <vlm/rl/advantages.hpp>

#include "cuda_test_util.hpp"

using namespace vlm_test;
namespace rl = vlm::rl;

namespace {
std::vector<float> random_rewards(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.4f, 1.7f);
  std::vector<float> r(n);
  for (auto& x : r) x = d(g);
  return r;
}
}  // namespace

TEST_CASE("cuda grpo advantages match the CPU for every scale_rewards mode", "[cuda]") {
  VLM_REQUIRE_CUDA_DEVICE();
  std::uint32_t seed = 1;
  for (int G : {2, 3, 8, 17, 129})
    for (int P : {1, 5, 97}) {
      auto r = random_rewards(static_cast<std::size_t>(G) * P, seed++);
      // Some groups of equal rewards (A must be exactly 0 there), incl. a value inexact in binary.
      if (P > 1)
        for (int k = 0; k < G; ++k) r[static_cast<std::size_t>(G + k)] = 0.1f;
      const auto h = tensor<float, cpu>::from_host({static_cast<std::int64_t>(r.size())}, std::span<const float>(r));
      const auto d = dev(h);
      for (auto mode : {rl::scale_rewards::group, rl::scale_rewards::batch, rl::scale_rewards::none}) {
        INFO("G " << G << " P " << P << " scale_rewards " << rl::to_string(mode));
        rl::reward_stats hs, ds;
        auto want = rl::group_advantages(h, G, mode, &hs);
        auto got = rl::group_advantages(d, G, mode, &ds);
        check_close(got, want, "advantages");
        if (P > 1) {
          const auto gv = got.to_vector();
          for (int k = 0; k < G; ++k) CHECK(gv[static_cast<std::size_t>(G + k)] == 0.f);
        }
        check_near(ds.reward, hs.reward, 1e-12, "reward");
        check_near(ds.reward_std, hs.reward_std, 1e-12, "reward_std");
        CHECK(ds.frac_reward_zero_std == hs.frac_reward_zero_std);
      }
    }
}

TEST_CASE("cuda grpo advantages: strided rewards, equal rewards, errors", "[cuda]") {
  VLM_REQUIRE_CUDA_DEVICE();
  // Every other element of a [2N] tensor.
  auto r = random_rewards(2 * 6 * 4, 99);
  const auto h = tensor<float, cpu>::from_host({static_cast<std::int64_t>(r.size())}, std::span<const float>(r));
  const auto hs = h.slice(0, 0, static_cast<std::int64_t>(r.size()), 2);
  check_close(rl::group_advantages(dev(h).slice(0, 0, static_cast<std::int64_t>(r.size()), 2), 4),
              rl::group_advantages(hs, 4), "strided");
  // All equal: zeros, frac_reward_zero_std 1.
  rl::reward_stats st;
  auto z = rl::group_advantages(dev(tensor<float, cpu>::full({12}, 0.7f)), 3, rl::scale_rewards::batch, &st);
  for (float x : z.to_vector()) CHECK(x == 0.f);
  CHECK(st.frac_reward_zero_std == 1.0);
  // A NaN reward names its index and group.
  r[5] = NAN;
  const auto bad = dev(tensor<float, cpu>::from_host({8}, std::span<const float>(r.data(), 8)));
  CHECK_THROWS_AS(rl::group_advantages(bad, 4), vlm::numeric_error);
  CHECK_THROWS_WITH(rl::group_advantages(bad, 4), Catch::Contains("reward 5 (group 1) is nan"));
  CHECK_THROWS_AS(rl::group_advantages(bad, 3), vlm::shape_error);
}
