// The reward registry: built-ins by name (as --reward_funcs external_ocr_format format), user
// registration from a static object, options, unknown names, weighted sums, and a plugin .so
// loaded with dlopen.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <vlm/rl/rewards.hpp>

using namespace vlm::rl;

namespace {
// A user's own reward, registered from this TU before main().
reward_registrar answer_length_registrar{"test_answer_length", [](const reward_options&) {
  return per_sample([](const reward_input& x) { return static_cast<double>(x.completion.size()); });
}};
}  // namespace

TEST_CASE("built-in rewards by name, with options", "[rl][registry]") {
  auto& reg = reward_registry::global();
  for (const char* n : {"format", "accuracy", "external_ocr_format", "test_answer_length"}) CHECK(reg.contains(n));
  const std::vector<reward_input> in = {{"<think>x</think><answer>中</answer>", "中", nullptr},
                                        {"<answer></answer>", "中国", nullptr}};
  CHECK(reg.get("format")(in) == std::vector<double>{1.0, 0.0});
  CHECK(reg.get("external_ocr_format")(in) == std::vector<double>{1.0, 0.0});
  CHECK(reg.get("external_ocr_format", {{"ocr_mode", "literal"}})(in) == std::vector<double>{1.0, 1.0});
  CHECK(reg.get("test_answer_length")(in)[1] == 17.0);
  CHECK_THROWS_WITH(reg.get("external_ocr_format", {{"ocr_mode", "fast"}}), Catch::Contains("unknown --ocr_mode 'fast'"));
}

TEST_CASE("unknown names list the known ones; duplicates are refused", "[rl][registry]") {
  auto& reg = reward_registry::global();
  CHECK_THROWS_AS(reg.get("cosine"), vlm::config_error);
  CHECK_THROWS_WITH(reg.get("cosine"), Catch::Contains("unknown reward function 'cosine'") &&
                                           Catch::Contains("accuracy, external_ocr_format, format"));
  CHECK_THROWS_WITH(reg.add("format", nullptr), Catch::Contains("already registered"));
  reward_registry empty;
  CHECK(empty.names().empty());
  CHECK_THROWS_WITH(empty.get("format"), Catch::Contains("(known: )"));
  empty.add("one", [](const reward_options&) { return per_sample([](const reward_input&) { return 1.0; }); });
  empty.replace("one", [](const reward_options&) { return per_sample([](const reward_input&) { return 2.0; }); });
  CHECK(empty.get("one")(std::vector<reward_input>{{}}) == std::vector<double>{2.0});
}

TEST_CASE("weighted sums skip NaN like ms-swift's nansum", "[rl][registry]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::vector<double>> per = {{1.0, 0.5, nan}, {1.0, 0.0, 1.0}};
  CHECK(weighted_reward_sum(per) == std::vector<double>{2.0, 0.5, 1.0});
  const std::vector<double> w = {0.5, 2.0};
  CHECK(weighted_reward_sum(per, w) == std::vector<double>{2.5, 0.25, 2.0});
  const std::vector<double> w1 = {1.0};
  CHECK_THROWS_WITH(weighted_reward_sum(per, w1), Catch::Contains("1 reward weights for 2"));

  reward_set set({"external_ocr_format", "format"}, {1.0, 0.5});
  const std::vector<reward_input> in = {{"<think>x</think><answer>中国</answer>", "中国", nullptr},
                                        {"中國", "中国", nullptr}};
  const auto r = set(in);
  CHECK(r.per_func[0] == std::vector<double>{1.0, 0.5});
  CHECK(r.per_func[1] == std::vector<double>{1.0, 0.0});
  CHECK(r.total == std::vector<double>{1.5, 0.5});
  CHECK_THROWS_WITH(reward_set({"format", "nope"}), Catch::Contains("'nope'"));
  CHECK_THROWS_WITH(reward_set({"format"}, {1.0, 2.0}), Catch::Contains("2 reward weights for 1"));
}

TEST_CASE("a plugin .so registers rewards through vlm_register_rewards", "[rl][registry][plugin]") {
  reward_registry reg;  // the plugin registers into the registry it is handed
  load_reward_plugin(VLM_TEST_REWARD_PLUGIN, reg);
  CHECK(reg.names() == std::vector<std::string>{"plugin_keyword", "plugin_length"});
  const nlohmann::json row = {{"keyword", "发票"}, {"solution", "x"}};
  const std::vector<reward_input> in = {{"这是发票", "x", &row}, {"ab", "x", nullptr}};
  CHECK(reg.get("plugin_length", {{"scale", 0.5}})(in) == std::vector<double>{2.0, 1.0});
  const auto k = reg.get("plugin_keyword")(in);
  CHECK(k[0] == 1.0);
  CHECK(std::isnan(k[1]));
  CHECK_THROWS_WITH(load_reward_plugin("/nonexistent/libnope.so", reg), Catch::Contains("libnope.so"));
  CHECK_THROWS_WITH(load_reward_plugin(VLM_TEST_REWARD_PLUGIN, reg), Catch::Contains("already registered"));
}
