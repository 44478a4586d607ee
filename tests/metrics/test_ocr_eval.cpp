// Scoring a result jsonl as `vlm infer --val_dataset` writes it; column choices; bad files
// name the file, line and field.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <vlm/metrics/ocr_eval.hpp>

namespace {
using namespace vlm::metrics;
std::string write_temp(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / ("vlm_ocr_eval_" + name);
  std::ofstream(p) << text;
  return p.string();
}
}  // namespace

TEST_CASE("score_jsonl reads vlm infer results", "[metrics][ocr_eval]") {
  const auto path = write_temp("ok.jsonl",
                               "{\"query\": \"q\", \"response\": \"在2日内到有效\", \"labels\": \"在2日内到有效\"}\n"
                               "\n"
                               "{\"response\": \"等:¥478.0\", \"labels\": \"等:¥476.0\", \"finish_reason\": \"stop\"}\n");
  const auto r = score_jsonl(path);
  REQUIRE(r.rows.size() == 2);
  CHECK(r.rows[1].line == 3);
  CHECK(r.summary.n == 2);
  CHECK(r.summary.exact_match == 0.5);
  CHECK(r.summary.exact_match_se == Approx(0.3535533906));
  CHECK(r.summary.text_acc == Approx((1.0 + 7.0 / 8) / 2));
  CHECK(r.summary.cer == Approx((0.0 + 1.0 / 8) / 2));
  const auto j = to_json(r.summary);
  CHECK(j["n"] == 2);
  CHECK(j.contains("exact_match_se"));
  std::remove(path.c_str());
}

TEST_CASE("score_rows: solution column and custom keys", "[metrics][ocr_eval]") {
  std::vector<nlohmann::json> rows = {{{"response", "中国"}, {"solution", "中国"}},
                                      {{"response", "中"}, {"solution", "中国"}}};
  auto r = score_rows(rows);  // "labels" absent -> "solution"
  CHECK(r.summary.exact_match == 0.5);
  ocr_eval_options opt;
  opt.response_keys = {"prediction"};
  opt.reference_keys = {"gt"};
  r = score_rows({{{"prediction", "a"}, {"gt", "a"}}}, opt);
  CHECK(r.summary.exact_match == 1.0);
  CHECK(r.summary.exact_match_se == 0.0);
}

TEST_CASE("bad result files name the file, line and field", "[metrics][ocr_eval]") {
  CHECK_THROWS_AS(score_jsonl("/nonexistent/x.jsonl"), vlm::io_error);
  auto p = write_temp("bad1.jsonl", "{\"response\": \"a\", \"labels\": \"a\"}\n{\"response\": \n");
  CHECK_THROWS_WITH(score_jsonl(p), Catch::Contains("bad1.jsonl:2") && Catch::Contains("not valid JSON"));
  p = write_temp("bad2.jsonl", "{\"response\": \"a\"}\n");
  CHECK_THROWS_WITH(score_jsonl(p), Catch::Contains("bad2.jsonl:1") && Catch::Contains("'labels', 'solution'"));
  p = write_temp("bad3.jsonl", "{\"response\": 5, \"labels\": \"a\"}\n");
  CHECK_THROWS_WITH(score_jsonl(p), Catch::Contains("bad3.jsonl:1") && Catch::Contains("'response'") &&
                                        Catch::Contains("must be a string"));
  p = write_temp("empty.jsonl", "\n");
  CHECK_THROWS_WITH(score_jsonl(p), Catch::Contains("no rows"));
  CHECK_THROWS_AS(score_rows({nlohmann::json::array()}), vlm::format_error);
}
