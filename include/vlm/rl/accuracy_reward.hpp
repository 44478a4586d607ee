// A dependency-free `accuracy` reward: 1.0 if the answer equals the solution, else 0.0.
// Both sides: the first <answer>...</answer> (DOTALL, as ms-swift >= 3.10 extracts it) if present,
// else the whole text; then Python str.strip(). Equal if the stripped texts are identical, or if
// both parse entirely as decimal numbers with the same value ("0.50" == ".5" == "5e-1"; digits
// may be any Unicode Nd, as Python's float() accepts). An empty solution scores 0 (ms-swift:
// empty gold -> 0.0). Unlike ms-swift's MathAccuracy there is no math_verify: "1/2" != "0.5".
#pragma once
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "vlm/metrics/unicode_text.hpp"  // code points, py_strip, py_decimal_value
#include "vlm/rl/ocr_reward.hpp"         // seed::detail::py_float
#include "vlm/rl/reward_function.hpp"    // reward_function, per_sample

namespace vlm::rl {

namespace detail {
// The body of the first "<answer>...</answer>" ('.' matches newlines here), else s; stripped.
inline std::u32string_view answer_body(std::u32string_view s) {
  const std::size_t i = s.find(U"<answer>");
  if (i != std::u32string_view::npos) {
    const std::size_t j = s.find(U"</answer>", i + 8);
    if (j != std::u32string_view::npos) s = s.substr(i + 8, j - i - 8);
  }
  return metrics::py_strip(s);
}

// [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?, the whole string; else nullopt.
inline std::optional<double> parse_decimal(std::u32string_view s) {
  std::string a;
  std::size_t i = 0, digits = 0;
  if (i < s.size() && (s[i] == U'+' || s[i] == U'-')) {
    if (s[i] == U'-') a.push_back('-');  // from_chars takes no leading '+'
    ++i;
  }
  auto take_digits = [&] {
    std::size_t k = 0;
    for (int d; i < s.size() && (d = metrics::py_decimal_value(s[i])) >= 0; ++i, ++k) a.push_back(char('0' + d));
    return k;
  };
  digits += take_digits();
  if (i < s.size() && s[i] == U'.') {
    a.push_back('.');
    ++i;
    digits += take_digits();
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == U'e' || s[i] == U'E')) {
    a.push_back('e');
    ++i;
    if (i < s.size() && (s[i] == U'+' || s[i] == U'-')) a.push_back(static_cast<char>(s[i++]));
    if (take_digits() == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return seed::detail::py_float(a);
}
}  // namespace detail

inline double accuracy_reward(std::string_view completion, std::string_view solution) {
  const auto c = metrics::utf8_to_code_points(completion), s = metrics::utf8_to_code_points(solution);
  const auto a = detail::answer_body(c), g = detail::answer_body(s);
  if (g.empty()) return 0.0;
  if (a == g) return 1.0;
  const auto x = detail::parse_decimal(a), y = detail::parse_decimal(g);
  return x && y && *x == *y ? 1.0 : 0.0;
}

inline reward_function make_accuracy_reward() {
  return per_sample([](const reward_input& x) { return accuracy_reward(x.completion, x.solution); });
}

}  // namespace vlm::rl
