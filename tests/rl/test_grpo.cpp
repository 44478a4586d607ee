// GRPO numerical core: advantages (hand-computed cases, properties, TRL golden data), the GRPO
// loss op (TRL 0.19.1 _compute_loss golden data: loss, metrics, d loss / d per_token_logps;
// finite differences), per_token_logps (TRL selective_log_softmax golden data; finite
// differences) and the error messages. Golden data: tests/data/grpo, tools/gen_golden_grpo.py.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <vlm/autograd.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/rl/advantages.hpp>
#include <vlm/rl/grpo_loss.hpp>

#include "../common/gradcheck.hpp"
#include "../common/random_tensor.hpp"
#include "../common/checks.hpp"  // defines: VLM_CHECK_THROWS_WITH_AS
#include "../common/tolerance.hpp"


namespace {

using vlm::tensor;
namespace rl = vlm::rl;

const std::string grpo_dir = std::string(VLM_TEST_DATA_DIR) + "/grpo";

std::vector<double> as_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Advantages by the formula, in double, written out the long way (torch.std: N - 1).
std::vector<double> reference_advantages(const std::vector<float>& r, int G, rl::scale_rewards mode) {
  const std::size_t N = r.size(), P = N / static_cast<std::size_t>(G);
  double bm = 0;
  for (float x : r) bm += x;
  bm /= static_cast<double>(N);
  double bv = 0;
  for (float x : r) bv += (x - bm) * (x - bm);
  const double bstd = std::sqrt(bv / static_cast<double>(N - 1));
  std::vector<double> out(N);
  for (std::size_t g = 0; g < P; ++g) {
    double m = 0, v = 0;
    for (int k = 0; k < G; ++k) m += r[g * G + k];
    m /= G;
    for (int k = 0; k < G; ++k) v += (r[g * G + k] - m) * (r[g * G + k] - m);
    const double sd = std::sqrt(v / (G - 1));
    for (int k = 0; k < G; ++k) {
      const double c = r[g * G + k] - m;
      out[g * G + k] = mode == rl::scale_rewards::none ? c : c / ((mode == rl::scale_rewards::group ? sd : bstd) + 1e-4);
    }
  }
  return out;
}

// VLM_GRPO_VERBOSE=1 prints every golden comparison's report (measured errors).
bool verbose() { return std::getenv("VLM_GRPO_VERBOSE") != nullptr; }

void check_values(const std::string& what, const std::vector<float>& got, const std::vector<double>& want, double rel) {
  auto res = vlm_test::compare_values(what, vlm::shape{static_cast<std::int64_t>(got.size())}, as_doubles(got), want, rel);
  if (verbose() && what.find("advantages") != std::string::npos) std::printf("%s\n", res.report.c_str());
  INFO(res.report);
  CHECK(res.ok);
}

}  // namespace

// ---- advantages ---------------------------------------------------------------------------------
TEST_CASE("grpo advantages: hand-computed group, batch and none", "[rl][grpo][cpu]") {
  const std::vector<float> r = {1, 2, 3, 4, 0, 0, 0, 0, 0.f, 1.f, 0.f, 1.f};
  // group 0: mean 2.5, std sqrt(5/3); group 1: all equal; group 2: mean 0.5, std sqrt(1/3).
  const double s0 = std::sqrt(5.0 / 3.0), s2 = std::sqrt(1.0 / 3.0);
  auto g = rl::group_advantages(std::span<const float>(r), 4);
  check_values("group", g.advantages,
               {-1.5 / (s0 + 1e-4), -0.5 / (s0 + 1e-4), 0.5 / (s0 + 1e-4), 1.5 / (s0 + 1e-4), 0, 0, 0, 0,
                -0.5 / (s2 + 1e-4), 0.5 / (s2 + 1e-4), -0.5 / (s2 + 1e-4), 0.5 / (s2 + 1e-4)},
               1e-6);
  for (int i = 4; i < 8; ++i) CHECK(g.advantages[static_cast<std::size_t>(i)] == 0.f);  // exactly 0, not NaN
  CHECK(g.stats.reward == Approx((2.5 + 0 + 0.5) / 3).epsilon(1e-12));
  CHECK(g.stats.reward_std == Approx((s0 + 0 + s2) / 3).epsilon(1e-12));
  CHECK(g.stats.frac_reward_zero_std == Approx(1.0 / 3));

  // batch: centre by the group mean, divide by the std of all 12 rewards (mean 1).
  double m = 1.0, v = 0;
  for (float x : r) v += (x - m) * (x - m);
  const double bs = std::sqrt(v / 11);
  auto b = rl::group_advantages(std::span<const float>(r), 4, rl::scale_rewards::batch);
  check_values("batch", b.advantages,
               {-1.5 / (bs + 1e-4), -0.5 / (bs + 1e-4), 0.5 / (bs + 1e-4), 1.5 / (bs + 1e-4), 0, 0, 0, 0,
                -0.5 / (bs + 1e-4), 0.5 / (bs + 1e-4), -0.5 / (bs + 1e-4), 0.5 / (bs + 1e-4)},
               1e-6);
  CHECK(b.stats.reward_std == Approx(bs).epsilon(1e-12));
  CHECK(b.stats.frac_reward_zero_std == Approx(1.0 / 3));  // groups with equal rewards (ms-swift)

  auto n = rl::group_advantages(std::span<const float>(r), 4, rl::scale_rewards::none);
  check_values("none", n.advantages, {-1.5, -0.5, 0.5, 1.5, 0, 0, 0, 0, -0.5, 0.5, -0.5, 0.5}, 0);

  // G = 2: std = |r0 - r1| / sqrt(2) * ... : r = {0, 1} -> mean 0.5, std sqrt(0.5).
  const std::vector<float> two = {0.f, 1.f};
  auto t = rl::group_advantages(std::span<const float>(two), 2);
  check_values("G=2", t.advantages, {-0.5 / (std::sqrt(0.5) + 1e-4), 0.5 / (std::sqrt(0.5) + 1e-4)}, 1e-6);

  // Tensor and double overloads give the same numbers.
  rl::reward_stats st;
  auto at = rl::group_advantages(tensor<float>::from_host({12}, std::span<const float>(r)), 4,
                                 rl::scale_rewards::group, &st);
  CHECK(at.to_vector() == g.advantages);
  CHECK(st.reward == g.stats.reward);
  const std::vector<double> rd(r.begin(), r.end());
  CHECK(rl::group_advantages(std::span<const double>(rd), 4).advantages == g.advantages);
}

TEST_CASE("grpo advantages: equal rewards give 0 for any value and group size", "[rl][grpo][property]") {
  for (int G : {2, 3, 7, 16, 129})
    for (float c : {0.f, 0.1f, -3.7f, 1e6f, 1.f / 3}) {
      std::vector<float> r(static_cast<std::size_t>(G) * 3, c);
      for (auto mode : {rl::scale_rewards::group, rl::scale_rewards::batch, rl::scale_rewards::none}) {
        auto a = rl::group_advantages(std::span<const float>(r), G, mode);
        for (float x : a.advantages) REQUIRE(x == 0.f);
        CHECK(a.stats.frac_reward_zero_std == 1.0);
        CHECK(a.stats.reward_std == 0.0);
      }
    }
}

TEST_CASE("grpo advantages: zero mean per group, shift invariance, formula", "[rl][grpo][property]") {
  vlm_test::rng g(7);
  for (int G : {2, 3, 8, 17})
    for (int P : {1, 5, 17}) {
      std::vector<float> r(static_cast<std::size_t>(G * P));
      for (auto& x : r) x = static_cast<float>(g.normal(0.3, 1.5));
      // Rewards on a 1/64 grid so that adding 4 is exact: the shifted advantages must be identical.
      std::vector<float> grid(r.size()), shifted(r.size());
      for (std::size_t i = 0; i < r.size(); ++i) {
        grid[i] = std::round(r[i] * 64.f) / 64.f;
        shifted[i] = grid[i] + 4.f;
      }
      for (auto mode : {rl::scale_rewards::group, rl::scale_rewards::batch, rl::scale_rewards::none}) {
        INFO("G " << G << " P " << P << " scale_rewards " << rl::to_string(mode));
        auto a = rl::group_advantages(std::span<const float>(r), G, mode);
        check_values("formula", a.advantages, reference_advantages(r, G, mode), 1e-6);
        for (int p = 0; p < P; ++p) {
          double s = 0, mx = 0;
          for (int k = 0; k < G; ++k) {
            s += a.advantages[static_cast<std::size_t>(p * G + k)];
            mx = std::max(mx, std::fabs(static_cast<double>(a.advantages[static_cast<std::size_t>(p * G + k)])));
          }
          CHECK(std::fabs(s) <= 1e-6 * G * std::max(1.0, mx));
        }
        auto a0 = rl::group_advantages(std::span<const float>(grid), G, mode);
        auto a1 = rl::group_advantages(std::span<const float>(shifted), G, mode);
        CHECK(a0.advantages == a1.advantages);
        // Any shift (inexact in f32) moves them by rounding only.
        std::vector<float> moved(r.size());
        for (std::size_t i = 0; i < r.size(); ++i) moved[i] = r[i] - 2.71828f;
        check_values("shifted by -e", rl::group_advantages(std::span<const float>(moved), G, mode).advantages,
                     as_doubles(a.advantages), 1e-5);
      }
    }
}

TEST_CASE("grpo advantages: TRL golden cases", "[rl][grpo][golden]") {
  auto f = vlm::io::safetensors_file::open(grpo_dir + "/advantages.safetensors");
  const auto& meta = f.metadata();
  std::string cases = meta.at("cases");
  std::size_t start = 0;
  int n = 0;
  while (start < cases.size()) {
    const std::size_t end = std::min(cases.find(',', start), cases.size());
    const std::string name = cases.substr(start, end - start);
    start = end + 1;
    INFO("case " << name);
    const int G = std::stoi(meta.at(name + ".num_generations"));
    const auto mode = rl::parse_scale_rewards(meta.at(name + ".scale_rewards"));
    const auto r = f.get_as<float>(name + ".rewards").to_vector();
    const auto want = f.get_as<float>(name + ".advantages").to_vector();
    const auto metrics = f.get_as<float>(name + ".metrics").to_vector();  // reward, reward_std, frac_zero_std
    auto a = rl::group_advantages(std::span<const float>(r), G, mode);
    check_values(name + " advantages", a.advantages, as_doubles(want), vlm_test::tolerance<float>::rel);
    CHECK(a.stats.reward == Approx(metrics[0]).epsilon(1e-5).margin(1e-6));
    CHECK(a.stats.reward_std == Approx(metrics[1]).epsilon(1e-5).margin(1e-6));
    CHECK(a.stats.frac_reward_zero_std == Approx(metrics[2]).margin(1e-7));
    ++n;
  }
  CHECK(n == 7);
}

TEST_CASE("grpo advantages: nan-aware per-function mean/std", "[rl][grpo]") {
  const std::vector<double> v = {1.0, NAN, 3.0, 5.0};
  auto s = rl::nan_mean_std(v);
  CHECK(s.count == 3);
  CHECK(s.mean == Approx(3.0));
  CHECK(s.std == Approx(2.0));  // unbiased: sqrt((4 + 0 + 4) / 2)
  CHECK(std::isnan(rl::nan_mean_std(std::vector<double>{NAN}).mean));
  CHECK(std::isnan(rl::nan_mean_std(std::vector<float>{2.f}).std));
}

TEST_CASE("grpo advantages: errors", "[rl][grpo][errors]") {
  const std::vector<float> r = {1, 2, 3};
  VLM_CHECK_THROWS_WITH_AS(rl::group_advantages(std::span<const float>(r), 1), Catch::Contains("num_generations must be >= 2"),
                       vlm::config_error);
  VLM_CHECK_THROWS_WITH_AS(rl::group_advantages(std::span<const float>(r), 2),
                       Catch::Contains("3 rewards are not a whole number of groups of num_generations = 2"),
                       vlm::shape_error);
  const std::vector<float> bad = {1, 2, 3, NAN};
  VLM_CHECK_THROWS_WITH_AS(rl::group_advantages(std::span<const float>(bad), 2), Catch::Contains("reward 3 (group 1) is nan"),
                       vlm::numeric_error);
  VLM_CHECK_THROWS_WITH_AS(rl::parse_scale_rewards("std"), Catch::Contains("'std' is not one of: group, batch, none"),
                       vlm::config_error);
  CHECK(rl::parse_scale_rewards("true") == rl::scale_rewards::group);
  CHECK(rl::parse_scale_rewards("False") == rl::scale_rewards::none);
  VLM_CHECK_THROWS_WITH_AS(rl::parse_loss_type("ppo"), Catch::Contains("'ppo' is not one of: grpo, bnpo, dr_grpo, dapo"),
                       vlm::config_error);
}

// ---- the loss ----------------------------------------------------------------------------------
namespace {

struct loss_case {
  tensor<float> lp, old, ref, adv;
  tensor<std::int64_t> mask;
  rl::grpo_loss_options opt;
  float loss = 0;
  tensor<float> grad;
  std::map<std::string, float> metrics;
};

loss_case read_loss_case(const std::string& path) {
  auto f = vlm::io::safetensors_file::open(path);
  const auto& m = f.metadata();
  loss_case c;
  c.lp = f.get_as<float>("per_token_logps").clone();
  if (f.contains("old_per_token_logps")) c.old = f.get_as<float>("old_per_token_logps").clone();
  if (f.contains("ref_per_token_logps")) c.ref = f.get_as<float>("ref_per_token_logps").clone();
  c.adv = f.get_as<float>("advantages").clone();
  c.mask = f.get_as<std::int64_t>("completion_mask").clone();
  c.loss = f.get_as<float>("loss").item();
  c.grad = f.get_as<float>("grad_per_token_logps").clone();
  for (const auto& name : f.names())
    if (name.rfind("metric.", 0) == 0) c.metrics[name.substr(7)] = f.get_as<float>(name).item();
  c.opt.type = rl::parse_loss_type(m.at("loss_type"));
  c.opt.beta = std::stod(m.at("beta"));
  c.opt.epsilon = std::stod(m.at("epsilon"));
  c.opt.epsilon_high = std::stod(m.at("epsilon_high"));
  if (m.at("delta") != "none") c.opt.delta = std::stod(m.at("delta"));
  c.opt.max_completion_length = std::stoll(m.at("max_completion_length"));
  if (m.count("num_items_in_batch")) c.opt.num_items_in_batch = std::stod(m.at("num_items_in_batch"));
  if (m.count("num_processes")) c.opt.num_processes = std::stoi(m.at("num_processes"));
  return c;
}

}  // namespace

TEST_CASE("grpo loss: TRL golden cases (loss, metrics, gradient)", "[rl][grpo][golden]") {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(grpo_dir)) {
    const std::string file = e.path().filename().string();
    if (file.rfind("loss_", 0) != 0) continue;
    INFO("case " << file);
    auto c = read_loss_case(e.path().string());
    vlm::tape<float> tape;
    auto lp = tape.watch(c.lp);
    auto r = rl::grpo_loss(tape, lp, c.old, c.ref, c.adv, c.mask, c.opt);
    // Loss: relative 1e-5, with an absolute floor of 1e-6 (a num_iterations = 1 loss is
    // -mean(A) = 0 up to f32 rounding: TRL's value there is rounding noise).
    const double loss = r.loss.item();
    INFO("loss " << loss << " want " << c.loss << " abs err " << std::fabs(loss - c.loss));
    CHECK(std::fabs(loss - c.loss) <= 1e-5 * std::fabs(c.loss) + 1e-6);
    tape.backward(r.loss);
    auto res = vlm_test::compare("d loss / d per_token_logps", tape.grad(lp), c.grad, 1e-4);
    INFO(res.report);
    CHECK(res.ok);
    if (verbose()) std::printf("%s: loss %.9g want %.9g; %s\n", file.c_str(), loss, c.loss, res.report.c_str());
    auto metric = [&](const char* key, double got) {
      INFO("metric " << key);
      REQUIRE(c.metrics.count(key));
      CHECK(got == Approx(c.metrics.at(key)).epsilon(1e-5).margin(1e-7));
    };
    if (c.opt.beta != 0) metric("kl", r.metrics.kl);
    else CHECK(std::isnan(r.metrics.kl));
    metric("clip_ratio.low_mean", r.metrics.clip_ratio_low);
    metric("clip_ratio.high_mean", r.metrics.clip_ratio_high);
    metric("clip_ratio.region_mean", r.metrics.clip_ratio_region);
    // Without a tape: the same loss, nothing recorded.
    vlm::no_grad ng;
    CHECK(rl::grpo_loss(ng, c.lp, c.old, c.ref, c.adv, c.mask, c.opt).loss.item() == r.loss.item());
    ++n;
  }
  CHECK(n == 8);
}

TEST_CASE("grpo loss: old = detached current logps when absent; accumulation divides", "[rl][grpo]") {
  vlm_test::rng g(3);
  auto lp = vlm_test::uniform<float>(g, {4, 6}, -3.0, -0.1);
  auto ref = vlm_test::uniform<float>(g, {4, 6}, -3.0, -0.1);
  auto adv = tensor<float>::from_host({4}, {0.5f, -1.2f, 0.f, 2.f});
  auto mask = tensor<float>::from_host({4, 6}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0});
  for (auto type : {rl::loss_type::grpo, rl::loss_type::bnpo, rl::loss_type::dr_grpo, rl::loss_type::dapo}) {
    INFO("loss_type " << rl::to_string(type));
    rl::grpo_loss_options o;
    o.type = type;
    o.max_completion_length = 8;
    vlm::tape<float> t1, t2;
    auto a = t1.watch(lp);
    auto b = t2.watch(lp);
    auto r1 = rl::grpo_loss(t1, a, tensor<float>{}, ref, adv, mask, o);
    auto r2 = rl::grpo_loss(t2, b, lp.clone(), ref, adv, mask, o);
    CHECK(r1.loss.item() == r2.loss.item());
    t1.backward(r1.loss);
    t2.backward(r2.loss);
    CHECK(t1.grad(a).to_vector() == t2.grad(b).to_vector());
    CHECK(r1.metrics.clip_ratio_region == 0.0);
    CHECK(r1.metrics.num_tokens == 15);
    // gradient_accumulation_steps divides grpo/bnpo/dr_grpo, not dapo (its normaliser has it).
    o.gradient_accumulation_steps = 4;
    vlm::tape<float> t3;
    auto c = t3.watch(lp);
    auto r3 = rl::grpo_loss(t3, c, tensor<float>{}, ref, adv, mask, o);
    t3.backward(r3.loss);
    const float k = type == rl::loss_type::dapo ? 1.f : 0.25f;
    CHECK(r3.loss.item() == Approx(r1.loss.item() * k).epsilon(1e-6));
    VLM_CHECK_CLOSE("accumulated gradient", t3.grad(c), vlm_test::to_double(vlm::scale(t1.grad(a), k)), 1e-6);
  }
}

TEST_CASE("grpo loss: finite differences for every loss_type", "[rl][grpo][gradcheck]") {
  // Log-ratios kept 0.03 away from the kinks (ln 0.8, ln 1.2, ln 1.28, ln delta = ln 1.5) so the
  // 4-point stencil (+-2h = +-1/64) stays on one side of each.
  vlm_test::rng g(11);
  const std::int64_t B = 4, T = 7;
  std::vector<double> lp(B * T), old(B * T), ref(B * T);
  for (std::size_t i = 0; i < lp.size(); ++i) {
    lp[i] = -g.uniform(0.05, 3.0);
    const double band = g.uniform(0, 1);
    double d = band < 0.5 ? g.uniform(-0.15, 0.15) : (band < 0.75 ? g.uniform(0.3, 0.36) : g.uniform(0.5, 0.6));
    if (g.uniform(0, 1) < 0.5 && band >= 0.5) d = -d;
    old[i] = lp[i] - d;
    ref[i] = lp[i] + g.normal(0, 0.4);
  }
  auto lp_t = vlm_test::from_doubles<float>({B, T}, lp), old_t = vlm_test::from_doubles<float>({B, T}, old),
       ref_t = vlm_test::from_doubles<float>({B, T}, ref);
  auto adv = tensor<float>::from_host({B}, {0.9f, -1.3f, 0.4f, -0.2f});
  auto mask = tensor<float>::from_host({B, T}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                                1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0});
  for (auto type : {rl::loss_type::grpo, rl::loss_type::bnpo, rl::loss_type::dr_grpo, rl::loss_type::dapo})
    for (double beta : {0.0, 0.04})
      for (bool delta : {false, true}) {
        rl::grpo_loss_options o;
        o.type = type;
        o.beta = beta;
        o.epsilon_high = 0.28;
        if (delta) o.delta = 1.5;
        o.max_completion_length = 9;
        o.num_items_in_batch = 40;
        o.num_processes = 2;
        const std::string what = std::string("grpo_loss ") + rl::to_string(type) + " beta " + std::to_string(beta) +
                                 (delta ? " delta 1.5" : "");
        vlm_test::check_gradients(what, {{"per_token_logps", lp_t}}, [&](auto& ctx, const std::vector<tensor<float>>& in) {
          return rl::grpo_loss(ctx, in[0], old_t, beta != 0 ? ref_t : tensor<float>{}, adv, mask, o).loss;
        });
      }
}

// ---- per_token_logps ---------------------------------------------------------------------------
TEST_CASE("grpo per_token_logps: TRL selective_log_softmax golden case", "[rl][grpo][golden]") {
  auto f = vlm::io::safetensors_file::open(grpo_dir + "/per_token_logps.safetensors");
  const float temperature = std::stof(f.metadata().at("temperature"));
  auto logits = f.get_as<float>("logits").clone();
  auto ids = f.get_as<std::int64_t>("ids").clone();
  auto r = f.get_as<float>("r").clone();
  vlm::tape<float> tape;
  auto x = tape.watch(logits);
  auto lp = rl::per_token_logps(tape, x, ids, temperature);
  auto c1 = vlm_test::compare("per_token_logps", lp, f.get_as<float>("logps"));
  INFO(c1.report);
  CHECK(c1.ok);
  const std::int64_t n = lp.numel();
  auto loss = vlm::ag::linear(tape, lp.view({1, n}), r.view({1, n}));  // <r, logps>
  tape.backward(loss);
  auto c2 = vlm_test::compare("d <r, logps> / d logits", tape.grad(x), f.get_as<float>("grad_logits"), 1e-4);
  INFO(c2.report);
  CHECK(c2.ok);
  if (verbose()) std::printf("%s\n%s\n", c1.report.c_str(), c2.report.c_str());
  // A strided view of the logits gives the same values.
  VLM_CHECK_EXACT("strided logits", rl::per_token_logps(tape, vlm_test::padded_layout(logits), ids, temperature), lp);
}

TEST_CASE("grpo per_token_logps: finite differences, temperature 1 and 0.7", "[rl][grpo][gradcheck]") {
  vlm_test::rng g(5);
  auto logits = vlm_test::randn<float>(g, {2, 3, 17}, 2.0);
  auto ids = tensor<std::int64_t>::from_host({2, 3}, {0, 16, 5, 5, 9, 1});
  for (float temp : {1.f, 0.7f})
    vlm_test::check_gradients("per_token_logps T=" + std::to_string(temp), {{"logits", logits}},
                              [&](auto& ctx, const std::vector<tensor<float>>& in) {
                                return rl::per_token_logps(ctx, in[0], ids, temp);
                              });
  // Rows are log-probabilities: exp(logp) summed over every id of a row is 1.
  for (float temp : {1.f, 0.7f}) {
    vlm::no_grad ng;
    double s = 0;
    for (std::int64_t v = 0; v < 17; ++v) {
      auto one = tensor<std::int64_t>::from_host({1, 1}, {v});
      s += std::exp(static_cast<double>(rl::per_token_logps(ng, logits.narrow(0, 0, 1).narrow(1, 0, 1).contiguous(), one, temp).item()));
    }
    CHECK(s == Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("grpo loss and per_token_logps: errors", "[rl][grpo][errors]") {
  auto lp = tensor<float>::full({2, 3}, -1.f);
  auto adv = tensor<float>::from_host({2}, {1.f, -1.f});
  auto mask = tensor<float>::full({2, 3}, 1.f);
  vlm::no_grad ng;
  rl::grpo_loss_options o;  // beta 0.04 by default: needs ref
  CHECK(o.beta == 0.04);
  CHECK(o.type == rl::loss_type::grpo);
  VLM_CHECK_THROWS_WITH_AS(rl::grpo_loss(ng, lp, tensor<float>{}, tensor<float>{}, adv, mask, o),
                       Catch::Contains("beta = 0.04 needs ref_per_token_logps"), vlm::config_error);
  o.beta = 0;
  o.type = rl::loss_type::dr_grpo;
  VLM_CHECK_THROWS_WITH_AS(rl::grpo_loss(ng, lp, tensor<float>{}, tensor<float>{}, adv, mask, o),
                       Catch::Contains("set max_completion_length"), vlm::config_error);
  o.type = rl::loss_type::grpo;
  VLM_CHECK_THROWS_WITH_AS(rl::grpo_loss(ng, lp, tensor<float>{}, tensor<float>{}, tensor<float>::full({3}, 1.f), mask, o),
                       Catch::Contains("advantages have 3 elements, expected one per sequence (B = 2)"), vlm::shape_error);
  VLM_CHECK_THROWS_WITH_AS(rl::grpo_loss(ng, lp, tensor<float>{}, tensor<float>{}, adv, tensor<float>::full({3, 2}, 1.f), o),
                       Catch::Contains("completion_mask [3, 2] does not match per_token_logps [2, 3]"), vlm::shape_error);
  auto bad = lp.clone();
  bad.data()[4] = NAN;
  VLM_CHECK_THROWS_WITH_AS(rl::grpo_loss(ng, bad, tensor<float>{}, tensor<float>{}, adv, mask, o),
                       Catch::Contains("loss term at [1, 1] is nan (logp nan, old nan, advantage -1)"), vlm::numeric_error);
  // A NaN under the mask is ignored (it is not part of the completion).
  auto m2 = mask.clone();
  m2.data()[4] = 0.f;
  CHECK(std::isfinite(rl::grpo_loss(ng, bad, tensor<float>{}, tensor<float>{}, adv, m2, o).loss.item()));

  auto logits = tensor<float>::zeros({1, 2, 5});
  VLM_CHECK_THROWS_WITH_AS(rl::per_token_logps(ng, logits, tensor<std::int64_t>::from_host({1, 2}, {0, 5}), 1.f),
                       Catch::Contains("token id 5 at position 1 is outside the vocabulary [0, 5)"), vlm::shape_error);
  VLM_CHECK_THROWS_WITH_AS(rl::per_token_logps(ng, logits, tensor<std::int64_t>::from_host({1, 2}, {0, 1}), 0.f),
                       Catch::Contains("temperature must be > 0"), vlm::config_error);
}
