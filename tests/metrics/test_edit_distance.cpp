// Edit distance, text_acc, CER and the weighted alignment: the seed's evaluation numbers on the
// golden cases (seed_cal_edit_distance, seed_text_acc, levenshtein_extracted), UTF-8 decoding
// as Python's errors='replace', and the metric's algebra on random strings.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "../common/jsonl.hpp"  // defines: read_jsonl_file
#include <vlm/metrics/edit_distance.hpp>

namespace {
using namespace vlm::metrics;
const std::string data = VLM_TEST_DATA_DIR;

using vlm_test::read_jsonl_file;

std::u32string random_string(std::mt19937& rng, std::size_t max_len) {
  static const std::u32string alphabet = U"ab中国1¥";
  std::uniform_int_distribution<std::size_t> len(0, max_len), pick(0, alphabet.size() - 1);
  std::u32string s(len(rng), U' ');
  for (auto& c : s) c = alphabet[pick(rng)];
  return s;
}
}  // namespace

TEST_CASE("UTF-8 decoding replaces maximal ill-formed subparts like Python", "[metrics][utf8]") {
  CHECK(utf8_to_code_points("a中\xF0\xA0\x80\x8B") == U"a中\U0002000B");
  CHECK(utf8_to_code_points("\xE4\xB8") == U"\uFFFD");            // truncated: one
  CHECK(utf8_to_code_points("\xE4\xB8" "a") == U"\uFFFDa");
  CHECK(utf8_to_code_points("\xFF\xFE") == U"\uFFFD\uFFFD");      // never valid: one per byte
  CHECK(utf8_to_code_points("\xED\xA0\x80") == U"\uFFFD\uFFFD\uFFFD");  // surrogate
  CHECK(utf8_to_code_points("\xF0\x80\x80\x80") == U"\uFFFD\uFFFD\uFFFD\uFFFD");  // overlong
  CHECK(utf8_to_code_points("\xF4\x90\x80\x80") == U"\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF
  CHECK(utf8_to_code_points("\xC0\xAF") == U"\uFFFD\uFFFD");
  CHECK(code_points_to_utf8(U"等:¥476.0\U0002000B") == "等:¥476.0\xF0\xA0\x80\x8B");
  CHECK(levenshtein("\xFF", "\xFE") == 0);  // both become U+FFFD
}

TEST_CASE("Python str predicates", "[metrics][utf8]") {
  for (char32_t c : std::u32string(U" \t\n\v\f\r\x1c\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"))
    CHECK(py_isspace(c));
  for (char32_t c : std::u32string(U"a0\u200b\ufeff\x1b_"))
    CHECK_FALSE(py_isspace(c));
  CHECK(py_decimal_value(U'7') == 7);
  CHECK(py_decimal_value(U'\uFF15') == 5);      // fullwidth ５
  CHECK(py_decimal_value(U'\u0669') == 9);      // Arabic-Indic ٩
  CHECK(py_decimal_value(U'\U0001D7CE') == 0);  // math bold 𝟎
  CHECK(py_decimal_value(U'\u00B2') == -1);     // ² is a digit but not decimal
  CHECK(py_decimal_value(U'\u216B') == -1);     // Ⅻ
  CHECK(py_decimal_value(U'a') == -1);
  CHECK(py_strip(U"\u3000 中国\x1c\n") == U"中国");
  CHECK(py_strip(U" \t ").empty());
}

TEST_CASE("golden: the seed's cal_edit_distance, text_acc and levenshtein of the extracted strings",
          "[metrics][golden]") {
  const auto rows = read_jsonl_file(data + "/rewards/seed_reward_cases.jsonl");
  REQUIRE(rows.size() == 108);
  int empty_both = 0;
  for (const auto& r : rows) {
    INFO("case " << r["id"] << " " << r["tag"]);
    const std::string c = r["completion"], s = r["solution"];
    CHECK(levenshtein(c, s) == r["seed_cal_edit_distance"].get<std::size_t>());
    CHECK(levenshtein(s, c) == r["seed_cal_edit_distance"].get<std::size_t>());
    CHECK(levenshtein(r["seed_extracted_ground_truth"].get<std::string>(), r["seed_extracted_answer"].get<std::string>()) ==
          r["levenshtein_extracted"].get<std::size_t>());
    if (r["seed_text_acc"].is_null()) {
      ++empty_both;  // the seed raises ZeroDivisionError; we define 1.0
      CHECK(r.contains("seed_text_acc_error"));
      CHECK(text_acc(c, s) == 1.0);
    } else {
      CHECK(text_acc(c, s) == r["seed_text_acc"].get<double>());  // bit-identical
    }
  }
  CHECK(empty_both == 1);
}

TEST_CASE("text_acc, cer and exact_match on small examples", "[metrics]") {
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(levenshtein("", "中国") == 2);
  CHECK(text_acc("中国", "中國") == 0.5);
  CHECK(text_acc("", "") == 1.0);
  CHECK(text_acc("", "ab") == 0.0);
  CHECK(cer("476", "478") == Approx(1.0 / 3));
  CHECK(cer("中国", "中国人民") == 1.0);  // insertions count: CER can reach or pass 1
  CHECK(cer("", "") == 0.0);
  CHECK(cer("", "x") == 1.0);
  CHECK(exact_match("中国", "中国"));
  CHECK_FALSE(exact_match("中国", "中国 "));
}

TEST_CASE("edit distance: symmetric, zero iff equal, triangle inequality", "[metrics][property]") {
  std::mt19937 rng(1234);
  for (int t = 0; t < 400; ++t) {
    const auto a = random_string(rng, 9), b = random_string(rng, 9), c = random_string(rng, 9);
    const auto ab = levenshtein(a, b), ba = levenshtein(b, a);
    CHECK(ab == ba);
    CHECK((ab == 0) == (a == b));
    CHECK(levenshtein(a, a) == 0);
    CHECK(levenshtein(a, c) <= ab + levenshtein(b, c));
    CHECK(ab <= std::max(a.size(), b.size()));
    CHECK(ab >= (a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()));
  }
}

TEST_CASE("weighted alignment: equals Levenshtein without important chars, brute force otherwise",
          "[metrics][property]") {
  std::mt19937 rng(99);
  const char_weights w;
  // brute force: minimum over all alignments by recursion (short strings only)
  std::function<double(std::u32string_view, std::u32string_view)> brute = [&](std::u32string_view r,
                                                                               std::u32string_view h) -> double {
    if (r.empty()) {
      double s = 0;
      for (auto c : h) s += w(c);
      return s;
    }
    if (h.empty()) {
      double s = 0;
      for (auto c : r) s += w(c);
      return s;
    }
    const double sub = brute(r.substr(1), h.substr(1)) + (r[0] == h[0] ? 0.0 : w(r[0]));
    return std::min({sub, brute(r.substr(1), h) + w(r[0]), brute(r, h.substr(1)) + w(h[0])});
  };
  for (int t = 0; t < 300; ++t) {
    const auto a = random_string(rng, 6), b = random_string(rng, 6);
    const auto al = weighted_alignment(a, b, w);
    CHECK(al.cost == brute(a, b));
    double ops = 0;
    for (const auto& op : al.ops) ops += op.cost;
    CHECK(ops == al.cost);  // the op list is an optimal alignment
    // without important characters: plain Levenshtein
    std::u32string a2 = a, b2 = b;
    for (auto* s : {&a2, &b2})
      for (auto& c : *s)
        if (w(c) != 1.0) c = U'x';
    CHECK(weighted_alignment(a2, b2, w).cost == static_cast<double>(levenshtein(a2, b2)));
    if (!a2.empty()) CHECK(weighted_cer(a2, b2) == cer(a2, b2));
  }
}

TEST_CASE("golden: true weighted errors, CER and alignment ops", "[metrics][golden]") {
  const auto rows = read_jsonl_file(data + "/rewards/seed_reward_cases.jsonl");
  const char_weights w;
  for (const auto& r : rows) {
    INFO("case " << r["id"] << " " << r["tag"]);
    const auto ref = utf8_to_code_points(r["seed_extracted_ground_truth"].get<std::string>());
    const auto hyp = utf8_to_code_points(r["seed_extracted_answer"].get<std::string>());
    const auto al = weighted_alignment(ref, hyp, w);
    CHECK(al.cost == r["true_weighted_errors"].get<double>());
    CHECK(weighted_cer(ref, hyp) == r["true_weighted_cer"].get<double>());
    const auto& ops = r["true_alignment_ops"];
    REQUIRE(al.ops.size() == ops.size());
    for (std::size_t k = 0; k < ops.size(); ++k) {
      CHECK(to_string(al.ops[k].op) == ops[k][0].get<std::string>());
      CHECK(code_points_to_utf8(al.ops[k].ref_char ? std::u32string(1, al.ops[k].ref_char) : U"") == ops[k][1].get<std::string>());
      CHECK(code_points_to_utf8(al.ops[k].hyp_char ? std::u32string(1, al.ops[k].hyp_char) : U"") == ops[k][2].get<std::string>());
      CHECK(al.ops[k].pos == ops[k][3].get<std::size_t>());
      CHECK(al.ops[k].cost == ops[k][4].get<double>());
    }
  }
}

TEST_CASE("ocr_score_accumulator: means and the exact-match standard error", "[metrics]") {
  ocr_score_accumulator acc;
  CHECK(acc.result().n == 0);
  auto r1 = acc.add("中国", "中国");
  CHECK(r1.exact);
  CHECK(r1.text_acc == 1.0);
  auto r2 = acc.add("中國", "中国");
  CHECK(r2.distance == 1);
  CHECK(r2.cer == 0.5);
  acc.add("", "ab");
  acc.add("abc", "abd");
  const auto s = acc.result();
  CHECK(s.n == 4);
  CHECK(s.text_acc == Approx((1.0 + 0.5 + 0.0 + 2.0 / 3) / 4));
  CHECK(s.cer == Approx((0.0 + 0.5 + 1.0 + 1.0 / 3) / 4));
  CHECK(s.cer_corpus == Approx(4.0 / 9));
  CHECK(s.exact_match == 0.25);
  CHECK(s.exact_match_se == Approx(std::sqrt(0.25 * 0.75 / 4)));
}
