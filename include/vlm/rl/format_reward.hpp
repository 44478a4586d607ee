// ms-swift's built-in `format` reward (class Format, v3.2+): 1.0 if the completion matches
//   re.match(r'^<think>.*?</think>\s*<answer>.*?</answer>(?![\s\S])', s, re.DOTALL | re.MULTILINE)
// else 0.0. Hand-written rather than std::regex: ECMAScript has no DOTALL and its \s is not
// Python's Unicode \s. The regex holds iff s starts with "<think>", ends with "</answer>", and
// some "</think>" after the opening tag is followed by Python-whitespace and then "<answer>"
// whose end does not overlap the final "</answer>". Bodies may be empty or contain any
// characters, tags included; nothing may follow the final "</answer>", not even a newline.
#pragma once
#include <string_view>

#include "vlm/metrics/unicode_text.hpp"  // utf8_to_code_points, py_isspace
#include "vlm/rl/reward_function.hpp"    // reward_function, per_sample

namespace vlm::rl {

inline bool format_matches(std::u32string_view s) {
  constexpr std::u32string_view think = U"<think>", end_think = U"</think>", answer = U"<answer>",
                                end_answer = U"</answer>";
  if (s.substr(0, think.size()) != think) return false;
  if (s.size() < think.size() + end_think.size() + answer.size() + end_answer.size()) return false;
  const std::size_t last = s.size() - end_answer.size();  // where the final "</answer>" starts
  if (s.substr(last) != end_answer) return false;
  for (std::size_t p = s.find(end_think, think.size()); p != std::u32string_view::npos;
       p = s.find(end_think, p + 1)) {
    std::size_t q = p + end_think.size();
    while (q < s.size() && metrics::py_isspace(s[q])) ++q;
    if (q + answer.size() > last) return false;  // later "</think>"s only leave less room
    if (s.substr(q, answer.size()) == answer) return true;
  }
  return false;
}
inline bool format_matches(std::string_view utf8) { return format_matches(metrics::utf8_to_code_points(utf8)); }

inline double format_reward(std::string_view completion) { return format_matches(completion) ? 1.0 : 0.0; }

inline reward_function make_format_reward() {
  return per_sample([](const reward_input& x) { return format_reward(x.completion); });
}

}  // namespace vlm::rl
