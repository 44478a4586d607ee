// Dataset row preprocessors: the built-in think_answer reproduces the seed's MyDataPreprocessor
// (section 4.3) byte for byte on a seed row, a user's own registers from a static object, and
// read_grpo_jsonl applies one by name (errors name file:line; a dropped row is skipped).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <vlm/rl/grpo.hpp>
#include <vlm/rl/preprocess.hpp>

using namespace vlm::rl;
namespace fs = std::filesystem;

namespace {
// A user's own preprocessor, registered from this TU before main(): keeps rows with a
// non-empty response, upper-cases nothing, just tags the query.
preprocess_registrar tag_registrar{"test_tag_query", [](nlohmann::json row) -> std::optional<nlohmann::json> {
  if (row.value("response", std::string()).empty()) return std::nullopt;
  row["query"] = "[tag] " + row.value("query", std::string());
  return row;
}};

fs::path write_jsonl(const std::string& name, const std::vector<std::string>& lines) {
  const auto p = fs::temp_directory_path() / name;
  std::ofstream out(p);
  for (const auto& l : lines) out << l << "\n";
  return p;
}
}  // namespace

TEST_CASE("think_answer: the seed's MyDataPreprocessor on a seed row", "[rl][preprocess]") {
  // Line 322 of the seed's train.jsonl listing (its image folder shortened).
  const auto row = nlohmann::json::parse(
      R"({"query": "请识别图片中的文字", "response": "等:¥476.0", "image_path": "data/TrainImages/Train_090014.jpg"})");
  const auto out = preprocess_registry::global().get("think_answer")(row);
  REQUIRE(out.has_value());
  CHECK((*out)["query"].get<std::string>() ==
        "请识别图片中的文字 Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.");
  CHECK((*out)["solution"].get<std::string>() == "等:¥476.0");
  CHECK((*out)["response"].get<std::string>() == "等:¥476.0");  // row.update keeps the other columns
  CHECK((*out)["image_path"] == row["image_path"]);
  CHECK(out->size() == 4);
  // row.get('query', '') / row.get('response', ''): missing columns become ''.
  const auto bare = think_answer_preprocess(nlohmann::json::object());
  CHECK((*bare)["query"].get<std::string>() == std::string(think_answer_suffix));
  CHECK((*bare)["solution"].get<std::string>().empty());
  CHECK_THROWS_WITH(think_answer_preprocess(nlohmann::json{{"query", 3}}), Catch::Contains("'query' must be a string"));
  CHECK_THROWS_WITH(think_answer_preprocess(nlohmann::json{{"messages", nlohmann::json::array()}}),
                    Catch::Contains("query/response rows"));
}

TEST_CASE("preprocess registry: names, user registration, unknown names", "[rl][preprocess]") {
  auto& reg = preprocess_registry::global();
  CHECK(reg.contains("think_answer"));
  CHECK(reg.contains("test_tag_query"));
  CHECK_THROWS_AS(reg.get("r1_math"), vlm::config_error);
  CHECK_THROWS_WITH(reg.get("r1_math"), Catch::Contains("unknown dataset preprocessor 'r1_math'") &&
                                            Catch::Contains("test_tag_query, think_answer"));
  CHECK_THROWS_WITH(reg.add("think_answer", nullptr), Catch::Contains("already registered"));
  preprocess_registry empty;
  CHECK(empty.names().empty());
}

TEST_CASE("read_grpo_jsonl applies a named preprocessor to every row", "[rl][preprocess][grpo]") {
  const auto p = write_jsonl("vlm_test_preprocess.jsonl",
                             {R"({"query": "请识别图片中的文字", "response": "中国"})", R"({"query": "q2", "response": ""})"});
  const auto plain = read_grpo_jsonl(p, "");
  REQUIRE(plain.size() == 2);
  CHECK(plain[0].prompt.back().parts.back().text == "请识别图片中的文字");

  const auto rows = read_grpo_jsonl(p, "", "think_answer");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].prompt.back().parts.back().text == std::string("请识别图片中的文字") + think_answer_suffix);
  CHECK(rows[0].solution == "中国");
  CHECK(rows[0].columns["solution"] == "中国");  // rewards see the new column
  CHECK(rows[1].solution.empty());

  const auto tagged = read_grpo_jsonl(p, "", "test_tag_query");  // drops the row without a response
  REQUIRE(tagged.size() == 1);
  CHECK(tagged[0].prompt.back().parts.back().text == "[tag] 请识别图片中的文字");

  const auto bad = write_jsonl("vlm_test_preprocess_bad.jsonl", {R"({"query": "a", "response": "b"})", R"({"query": 5})"});
  CHECK_THROWS_WITH(read_grpo_jsonl(bad, "", "think_answer"),
                    Catch::Contains("vlm_test_preprocess_bad.jsonl:2") && Catch::Contains("preprocessor 'think_answer'"));
  CHECK_THROWS_WITH(read_grpo_jsonl(p, "", "nope"), Catch::Contains("unknown dataset preprocessor 'nope'"));
}
