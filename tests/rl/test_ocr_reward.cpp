// The seed's OCR reward (external_ocr_format) in both modes against every golden case of
// golden/rewards/seed_reward_cases.jsonl, and `literal` against extra cases produced by the
// seed's own code (tests/data/rewards/gen_extra_cases.py: confidence and extraction corners).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>

#include <vlm/rl/ocr_reward.hpp>

#include "rl_test_util.hpp"

namespace {
using namespace vlm::rl;
using vlm::metrics::code_points_to_utf8;
const ocr_reward_config literal{ocr_reward_mode::literal, {}};
const ocr_reward_config truth{};

// Our clamping rule, restated independently of the library for the test.
double our_clamp(double v) { return v <= 1 ? v : v <= 100 ? v / 100 : 1.0; }

void check_literal(const nlohmann::json& r) {
  INFO("case " << r["id"] << " " << r["tag"] << ": " << r["completion"] << " | " << r["solution"]);
  const std::string c = r["completion"], s = r["solution"];
  const auto d = ocr_reward_explain(c, s, literal);
  CHECK(code_points_to_utf8(d.ground_truth) == r["seed_extracted_ground_truth"].get<std::string>());
  CHECK(code_points_to_utf8(d.answer) == r["seed_extracted_answer"].get<std::string>());
  CHECK(d.confidence == r["seed_confidence"].get<double>());
  CHECK(d.cer == r["seed_calculate_cer"].get<double>());
  CHECK(d.reward == r["seed_reward"].get<double>());
  CHECK(ocr_reward(c, s, literal) == r["seed_reward"].get<double>());
}
}  // namespace

TEST_CASE("golden: literal mode reproduces the seed's reward, CER and confidence on every case",
          "[rl][rewards][golden]") {
  const auto rows = vlm_test::read_jsonl_file(vlm_test::rewards_dir + "/seed_reward_cases.jsonl");
  REQUIRE(rows.size() == 108);
  for (const auto& r : rows) check_literal(r);
}

TEST_CASE("literal mode on extra cases from the seed's own code", "[rl][rewards]") {
  const auto rows = vlm_test::read_jsonl_file(vlm_test::rewards_dir + "/extra_seed_cases.jsonl");
  REQUIRE(rows.size() >= 60);
  for (const auto& r : rows) check_literal(r);
}

TEST_CASE("golden: true mode equals the independent minimum-cost weighted CER", "[rl][rewards][golden]") {
  const auto rows = vlm_test::read_jsonl_file(vlm_test::rewards_dir + "/seed_reward_cases.jsonl");
  std::set<int> differ_by_clamping;
  for (const auto& r : rows) {
    INFO("case " << r["id"] << " " << r["tag"] << ": " << r["completion"] << " | " << r["solution"]);
    const auto d = ocr_reward_explain(r["completion"].get<std::string>(), r["solution"].get<std::string>(), truth);
    CHECK(d.weighted_errors == r["true_weighted_errors"].get<double>());
    CHECK(d.cer == r["true_weighted_cer"].get<double>());
    const double conf = our_clamp(r["seed_confidence"].get<double>());
    CHECK(d.confidence == conf);
    const double expected = std::max(0.0, (1.0 - r["true_weighted_cer"].get<double>()) * conf);
    CHECK(d.reward == expected);
    if (d.reward != r["true_weighted_reward"].get<double>()) differ_by_clamping.insert(r["id"].get<int>());
  }
  // Only the two confidences above 1 differ from the golden true_weighted_reward (which uses the
  // unclamped seed confidence): id 71 {"confidence": 95} -> 0.95, id 85 "confidence: 80%" -> 0.8.
  CHECK(differ_by_clamping == std::set<int>{71, 85});
}

TEST_CASE("the modes side by side on the examples of docs/rewards.md", "[rl][rewards]") {
  auto both = [](const std::string& c, const std::string& s) {
    return std::pair{ocr_reward(c, s, literal), ocr_reward(c, s, truth)};
  };
  CHECK(both("<answer>中国</answer>", "中国") == std::pair{0.0, 1.0});       // exact answer
  CHECK(both("<answer></answer>", "中国") == std::pair{1.0, 0.0});           // empty answer
  CHECK(both("<answer>防御</answer> {\"confidence\": 95}", "防御") == std::pair{0.0, 0.95});
  CHECK(both("<answer>中</answer> {\"confidence\": 95}", "中") == std::pair{95.0, 0.95});
  CHECK(both("476", "478").first == 0.0);
  CHECK(both("476", "478").second == Approx(1.0 / 3));  // digit substitution costs 2 of 3
  CHECK(both("中", "中") == std::pair{1.0, 1.0});
}

TEST_CASE("confidence extraction corners", "[rl][rewards]") {
  using vlm::metrics::utf8_to_code_points;
  auto conf = [](const std::string& s) { return seed::extract_confidence(utf8_to_code_points(s)); };
  CHECK(conf("nothing here") == 1.0);
  CHECK(conf("\"confidence\": 0.5 confidence: 0.9") == 0.5);  // JSON wins
  CHECK(conf("置信度：0.8") == 1.0);                          // fullwidth colon not matched
  CHECK(conf("confidence: 9e-1") == 9.0);
  std::string nines = "confidence: ";
  nines.append(400, '9');
  CHECK(std::isinf(conf(nines)));  // float() overflows to inf
  // inf confidence, as Python: CER 0 -> inf; CER 1 ("中国" vs itself) -> (1 - 1) * inf = nan -> max(0, nan) = 0
  std::string one = "<answer>中</answer> confidence: ", two = "<answer>中国</answer> confidence: ";
  one.append(400, '9');
  two.append(400, '9');
  CHECK(std::isinf(ocr_reward(one, "中", literal)));
  CHECK(ocr_reward(two, "中国", literal) == 0.0);
  CHECK(ocr_reward(one, "中", truth) == 1.0);
  CHECK(normalize_confidence(0.3) == 0.3);
  CHECK(normalize_confidence(1.0) == 1.0);
  CHECK(normalize_confidence(95) == 0.95);
  CHECK(normalize_confidence(100) == 1.0);
  CHECK(normalize_confidence(250) == 1.0);
  CHECK(normalize_confidence(std::numeric_limits<double>::infinity()) == 1.0);
  // per value, then averaged: 0.9 and 95 -> (0.9 + 0.95) / 2
  CHECK(ocr_reward("<answer>中</answer> confidence: 0.9 confidence: 95", "中", truth) == Approx(0.925));
}

TEST_CASE("true mode: empty answers, empty solutions, invalid UTF-8", "[rl][rewards]") {
  CHECK(ocr_reward("<think>x</think><answer></answer>", "¥476.0", truth) == 0.0);
  CHECK(ocr_reward("<answer>  </answer>", "中", truth) == 0.0);
  CHECK(ocr_reward("", "", truth) == 1.0);
  CHECK(ocr_reward("中", "", truth) == 0.0);
  CHECK(ocr_reward("<answer>\xFF</answer>", "\xFE", truth) == 1.0);  // both U+FFFD
  CHECK(parse_ocr_reward_mode("literal") == ocr_reward_mode::literal);
  CHECK_THROWS_WITH(parse_ocr_reward_mode("fast"), Catch::Contains("true, literal"));
}
