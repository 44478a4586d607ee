// The seed's OCR reward, MultiModalAccuracyORMGuopei (registered as `external_ocr_format`),
// in two modes (docs/rewards.md compares them on examples):
//   literal  the seed's code exactly, bugs included: calculate_cer sums the weights of EVERY
//            mismatching DP cell (identical answers of 2+ distinct chars score 0, an empty answer
//            scores full), confidence unclamped (95 multiplies the reward by 95). Checked
//            against golden/rewards/seed_reward_cases.jsonl (math_verify stubbed, CER branch).
//   true     (default) the intended reward: minimum-cost weighted alignment (golden README
//            part C), an empty answer to a non-empty solution scores 0, confidence in [0, 1].
// Both: text = the first <answer>(.*?)</answer> ('.' does not match '\n', case-sensitive),
// str.strip()ped, else the whole string stripped; reward = max(0, (1 - CER) * confidence).
// Neither runs the seed's math_verify branch (reward 1.0 when parse/verify agree).
// Text is handled as Python code points (metrics/unicode_text.hpp).
#pragma once
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/core/error.hpp"               // config_error
#include "vlm/metrics/edit_distance.hpp"    // weighted_alignment, char_weights, code points
#include "vlm/rl/reward_function.hpp"       // reward_function

namespace vlm::rl {

enum class ocr_reward_mode { true_cer, literal };

// "true" -> true_cer, "literal" -> literal. throws: config_error otherwise.
inline ocr_reward_mode parse_ocr_reward_mode(std::string_view s) {
  if (s == "true") return ocr_reward_mode::true_cer;
  if (s == "literal") return ocr_reward_mode::literal;
  throw config_error("[rewards] unknown --ocr_mode '" + std::string(s) + "' (known: true, literal)");
}

struct ocr_reward_config {
  ocr_reward_mode mode = ocr_reward_mode::true_cer;
  metrics::char_weights weights;  // '0123456789¥$' weigh 2.0 (the seed's defaults)
};

namespace seed {

// re.search(r'<answer>(.*?)</answer>', s): the group of the leftmost match, or nullopt.
inline std::optional<std::u32string_view> search_answer(std::u32string_view s) {
  constexpr std::u32string_view open = U"<answer>", close = U"</answer>";
  for (std::size_t i = s.find(open); i != std::u32string_view::npos; i = s.find(open, i + 1)) {
    const std::size_t body = i + open.size();
    const std::size_t j = s.find(close, body);
    if (j == std::u32string_view::npos) return std::nullopt;  // no later start can close either
    const std::size_t nl = s.find(U'\n', body);
    if (nl == std::u32string_view::npos || nl > j) return s.substr(body, j - body);
    // '.' cannot cross the newline: this start fails, try the next "<answer>"
  }
  return std::nullopt;
}

// The seed's extraction: match.group(1).strip() if the regex matches, else s.strip().
inline std::u32string_view extract_answer(std::u32string_view s) {
  auto m = search_answer(s);
  return metrics::py_strip(m ? *m : s);
}

namespace detail {
// (\d+\.\d+|\d+) at s[p]: the end of the match or p if none; digits (any Nd) appended as ASCII.
inline std::size_t match_number(std::u32string_view s, std::size_t p, std::string& ascii) {
  std::size_t q = p;
  while (q < s.size() && metrics::py_decimal_value(s[q]) >= 0) ascii.push_back(char('0' + metrics::py_decimal_value(s[q++])));
  if (q == p) return p;
  if (q + 1 < s.size() && s[q] == U'.' && metrics::py_decimal_value(s[q + 1]) >= 0) {
    ascii.push_back('.');
    ++q;
    while (q < s.size() && metrics::py_decimal_value(s[q]) >= 0) ascii.push_back(char('0' + metrics::py_decimal_value(s[q++])));
  }
  return q;
}

// Python float() of "123" / "1.5" (ASCII digits here): correctly rounded; overflow -> inf.
inline double py_float(const std::string& a) {
  double v = 0;
  auto r = std::from_chars(a.data(), a.data() + a.size(), v);
  if (r.ec == std::errc::result_out_of_range) return std::strtod(a.c_str(), nullptr);  // inf or a denormal
  return v;
}

inline std::size_t skip_space(std::u32string_view s, std::size_t k) {
  while (k < s.size() && metrics::py_isspace(s[k])) ++k;
  return k;
}

// re.IGNORECASE match of "confidence" at s[p] (Python also folds İ U+0130 and ı U+0131 to i).
inline bool match_confidence_icase(std::u32string_view s, std::size_t p) {
  constexpr std::u32string_view word = U"confidence";
  if (s.size() - p < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    char32_t c = s[p + k];
    if (c >= U'A' && c <= U'Z') c += 32;
    if (word[k] == U'i' && (c == 0x130 || c == 0x131)) c = U'i';
    if (c != word[k]) return false;
  }
  return true;
}

// findall of PREFIX\s*:\s*(\d+\.\d+|\d+), where prefix_len(s, p) gives the length of the
// prefix matched at p (0 = none).
template <class Prefix>
std::vector<double> findall_numbers(std::u32string_view s, Prefix prefix_len) {
  std::vector<double> out;
  for (std::size_t p = 0; p < s.size();) {
    const std::size_t len = prefix_len(s, p);
    if (len) {
      std::size_t k = skip_space(s, p + len);
      if (k < s.size() && s[k] == U':') {
        k = skip_space(s, k + 1);
        std::string ascii;
        const std::size_t e = match_number(s, k, ascii);
        if (e != k) {
          out.push_back(py_float(ascii));
          p = e;
          continue;
        }
      }
    }
    ++p;
  }
  return out;
}
}  // namespace detail

// The confidence values the seed finds: all matches of r'"confidence"\s*:\s*(\d+\.\d+|\d+)';
// if none, all of r'(?:置信度|confidence)\s*(?::|:)\s*(\d+\.\d+|\d+)' with re.IGNORECASE (both
// alternatives of the colon are ASCII ':' in the seed's text, so '置信度：0.8' is not found).
// Quoted ("0.5") and negative values never match; "9e-1" reads 9, "80%" reads 80.
inline std::vector<double> confidence_values(std::u32string_view s) {
  auto json = detail::findall_numbers(s, [](std::u32string_view t, std::size_t p) -> std::size_t {
    return t.substr(p, 12) == U"\"confidence\"" ? 12 : 0;
  });
  if (!json.empty()) return json;
  return detail::findall_numbers(s, [](std::u32string_view t, std::size_t p) -> std::size_t {
    if (t.substr(p, 3) == U"\u7F6E\u4FE1\u5EA6") return 3;  // 置信度
    return detail::match_confidence_icase(t, p) ? 10 : 0;
  });
}

// extract_confidence: the mean of confidence_values (summed left to right), 1.0 if none.
inline double extract_confidence(std::u32string_view s) {
  auto v = confidence_values(s);
  if (v.empty()) return 1.0;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

struct literal_cer_result {
  double weighted_errors = 0;  // the seed's sum over every mismatching DP cell
  double cer = 0;
};

// calculate_cer(reference, hypothesis) exactly as the seed writes it: the unit-cost DP, and for
// EVERY cell (i, j) with reference[i-1] != hypothesis[j-1] one "operation" (delete if the
// deletion is minimal, else insert, else substitute) whose char weight is added.
// Worked example: "中国" vs itself -> cells (中,国) and (国,中) differ -> 2 / 2 = CER 1.0.
inline literal_cer_result calculate_cer(std::u32string_view ref, std::u32string_view hyp,
                                        const metrics::char_weights& w = {}) {
  literal_cer_result r;
  if (ref.empty()) {
    r.cer = hyp.empty() ? 0.0 : 1.0;
    return r;
  }
  const std::size_t m = hyp.size();
  std::vector<std::size_t> prev(m + 1), cur(m + 1);
  for (std::size_t j = 0; j <= m; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= ref.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      if (ref[i - 1] == hyp[j - 1]) {
        cur[j] = prev[j - 1];
        continue;
      }
      const std::size_t del = prev[j] + 1, ins = cur[j - 1] + 1, sub = prev[j - 1] + 1;
      const std::size_t best = std::min({del, ins, sub});
      cur[j] = best;
      const char32_t c = best == del ? ref[i - 1] : best == ins ? hyp[j - 1] : ref[i - 1];
      r.weighted_errors += w(c);
    }
    std::swap(prev, cur);
  }
  r.cer = r.weighted_errors / static_cast<double>(ref.size());
  return r;
}

}  // namespace seed

// Our confidence rule for the `true` mode, per extracted value v: v in [0, 1] is kept;
// 1 < v <= 100 is read as a percentage (95 -> 0.95, "80%" -> 0.8); v > 100 (and inf) -> 1.0.
// Note 1 < v <= 100 includes e.g. 1.5 -> 0.015: a value above 1 is taken as a percentage.
inline double normalize_confidence(double v) {
  if (!(v >= 0)) return 0.0;  // not reachable from the patterns (no sign); NaN -> 0
  if (v <= 1) return v;
  if (v <= 100) return v / 100;
  return 1.0;
}

struct ocr_reward_detail {
  std::u32string ground_truth;   // extracted + stripped solution
  std::u32string answer;         // extracted + stripped completion
  double confidence = 1.0;       // as used in the reward (raw mean in literal mode)
  double weighted_errors = 0;    // literal: the seed's all-cells sum; true: minimum cost
  double cer = 0;
  double reward = 0;
};

// throws: nothing for any input (invalid UTF-8 becomes U+FFFD).
inline ocr_reward_detail ocr_reward_explain(std::string_view completion, std::string_view solution,
                                            const ocr_reward_config& cfg = {}) {
  const auto content = metrics::utf8_to_code_points(completion);
  const auto sol = metrics::utf8_to_code_points(solution);
  ocr_reward_detail d;
  d.ground_truth = std::u32string(seed::extract_answer(sol));
  d.answer = std::u32string(seed::extract_answer(content));
  if (cfg.mode == ocr_reward_mode::literal) {
    d.confidence = seed::extract_confidence(content);
    const auto c = seed::calculate_cer(d.ground_truth, d.answer, cfg.weights);
    d.weighted_errors = c.weighted_errors;
    d.cer = c.cer;
  } else {
    const auto values = seed::confidence_values(content);
    if (!values.empty()) {
      double sum = 0;
      for (double v : values) sum += normalize_confidence(v);
      d.confidence = sum / static_cast<double>(values.size());
    }
    d.weighted_errors = metrics::weighted_alignment(d.ground_truth, d.answer, cfg.weights).cost;
    d.cer = d.ground_truth.empty() ? (d.answer.empty() ? 0.0 : 1.0)  // the seed's convention
                                   : d.weighted_errors / static_cast<double>(d.ground_truth.size());
  }
  const double x = (1.0 - d.cer) * d.confidence;
  d.reward = x > 0.0 ? x : 0.0;  // Python max(0.0, x): NaN -> 0.0
  if (cfg.mode == ocr_reward_mode::true_cer && d.answer.empty() && !d.ground_truth.empty()) d.reward = 0.0;
  return d;
}

inline double ocr_reward(std::string_view completion, std::string_view solution, const ocr_reward_config& cfg = {}) {
  return ocr_reward_explain(completion, solution, cfg).reward;
}

inline reward_function make_ocr_reward(ocr_reward_config cfg = {}) {
  return per_sample([cfg](const reward_input& x) { return ocr_reward(x.completion, x.solution, cfg); });
}

}  // namespace vlm::rl
