// ms-swift's `format` reward against Python's re on 400 strings (tests/data/rewards/
// format_cases.jsonl, from gen_extra_cases.py), plus hand-picked positives and negatives; the
// dependency-free `accuracy` reward.
#include <catch2/catch.hpp>

#include <vlm/rl/accuracy_reward.hpp>
#include <vlm/rl/format_reward.hpp>

#include "rl_test_util.hpp"

using namespace vlm::rl;

TEST_CASE("format reward matches Python's re on every generated case", "[rl][rewards][format]") {
  const auto rows = vlm_test::read_jsonl_file(vlm_test::rewards_dir + "/format_cases.jsonl");
  REQUIRE(rows.size() == 400);
  int positives = 0;
  for (const auto& r : rows) {
    INFO("completion: " << r["completion"]);
    CHECK(format_reward(r["completion"].get<std::string>()) == r["format"].get<double>());
    positives += r["format"].get<double>() == 1.0;
  }
  CHECK(positives > 40);  // the file exercises both outcomes
}

TEST_CASE("format reward: positives and negatives", "[rl][rewards][format]") {
  CHECK(format_reward("<think>看到文字</think><answer>中国</answer>") == 1.0);
  CHECK(format_reward("<think></think><answer></answer>") == 1.0);  // empty bodies score 1
  CHECK(format_reward("<think>a\nb</think>\n \t<answer>多\n行</answer>") == 1.0);  // DOTALL, \s*
  CHECK(format_reward("<think>x</think>\u3000<answer>y</answer>") == 1.0);  // Unicode \s
  CHECK(format_reward("<think>x</think><answer>y</answer></answer>") == 1.0);  // lazy body may hold tags
  CHECK(format_reward("<think>x</think><answer>y</answer>\n") == 0.0);  // nothing after </answer>
  CHECK(format_reward(" <think>x</think><answer>y</answer>") == 0.0);   // anchored at 0
  CHECK(format_reward("<think>x</think>so<answer>y</answer>") == 0.0);   // only whitespace between
  CHECK(format_reward("<answer>y</answer>") == 0.0);
  CHECK(format_reward("<think>x</think>") == 0.0);
  CHECK(format_reward("<THINK>x</THINK><ANSWER>y</ANSWER>") == 0.0);
  CHECK(format_reward("<think></answer>") == 0.0);
  CHECK(format_reward("") == 0.0);
}

TEST_CASE("accuracy reward: exact after strip, numeric equality", "[rl][rewards][accuracy]") {
  CHECK(accuracy_reward("<think>..</think><answer> 中国 </answer>", "中国") == 1.0);
  CHECK(accuracy_reward("中国\n", "<answer>中国</answer>") == 1.0);
  CHECK(accuracy_reward("<answer>0.50</answer>", "0.5") == 1.0);
  CHECK(accuracy_reward("<answer>.5</answer>", "5e-1") == 1.0);
  CHECK(accuracy_reward("<answer>+3</answer>", "3.0") == 1.0);
  CHECK(accuracy_reward("<answer>３</answer>", "3") == 1.0);  // fullwidth digit, as float('３')
  CHECK(accuracy_reward("<answer>多\n行</answer>", "多\n行") == 1.0);  // DOTALL here
  CHECK(accuracy_reward("1/2", "0.5") == 0.0);  // no math_verify
  CHECK(accuracy_reward("3.", "3") == 1.0);
  CHECK(accuracy_reward("3e", "3") == 0.0);
  CHECK(accuracy_reward("中國", "中国") == 0.0);
  CHECK(accuracy_reward("", "") == 0.0);  // empty solution scores 0
  CHECK(accuracy_reward("<answer>x</answer>", "<answer> </answer>") == 0.0);
}
