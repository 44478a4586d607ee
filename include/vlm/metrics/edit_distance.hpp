// Character-level OCR metrics over Unicode code points (what Python's len() and == see):
//   levenshtein(a, b)      unit-cost edit distance, = the seed's cal_edit_distance(str1, str2)
//   text_acc(a, b)         1 - d / max(len a, len b), the seed's per-sample accuracy
//   cer(ref, hyp)          d / len(ref)
//   exact_match(a, b)      code-point equality
//   weighted_alignment     minimum-cost alignment with per-character weights (the "true"
//                          weighted CER of golden/README.md part C), with one optimal op list
//   ocr_score_accumulator  mean text_acc, mean CER, exact-match rate ± its standard error
// UTF-8 input is decoded as in unicode_text.hpp (invalid bytes -> U+FFFD, as errors='replace').
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/metrics/unicode_text.hpp"  // utf8_to_code_points

namespace vlm::metrics {

// ensures: symmetric; 0 iff a == b; triangle inequality. O(len a * len b) time, O(min) memory.
inline std::size_t levenshtein(std::u32string_view a, std::u32string_view b) {
  if (a.size() < b.size()) std::swap(a, b);  // keep the row over the shorter string
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];  // dp[i-1][j-1]
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];  // dp[i-1][j]
      row[j] = a[i - 1] == b[j - 1] ? diag : 1 + std::min({diag, up, row[j - 1]});
      diag = up;
    }
  }
  return row[b.size()];
}
inline std::size_t levenshtein(std::string_view a, std::string_view b) {
  return levenshtein(utf8_to_code_points(a), utf8_to_code_points(b));
}

// The seed's evaluation metric: 1 - d / max(len a, len b), computed in the same order as the
// seed's Python (so results are bit-identical). Both empty: the seed divides by zero
// (ZeroDivisionError); here two empty strings are equal, so text_acc = 1.0.
inline double text_acc(std::u32string_view a, std::u32string_view b) {
  const std::size_t m = std::max(a.size(), b.size());
  if (m == 0) return 1.0;
  const double ratio = static_cast<double>(levenshtein(a, b)) * 1.0 / static_cast<double>(m);
  return 1 - ratio;
}
inline double text_acc(std::string_view a, std::string_view b) {
  return text_acc(utf8_to_code_points(a), utf8_to_code_points(b));
}

// Character error rate d / len(reference). Empty reference: 1.0 if the hypothesis is
// non-empty, else 0.0 (the seed's calculate_cer convention). Can exceed 1 (insertions).
inline double cer(std::u32string_view reference, std::u32string_view hypothesis) {
  if (reference.empty()) return hypothesis.empty() ? 0.0 : 1.0;
  return static_cast<double>(levenshtein(reference, hypothesis)) / static_cast<double>(reference.size());
}
inline double cer(std::string_view reference, std::string_view hypothesis) {
  return cer(utf8_to_code_points(reference), utf8_to_code_points(hypothesis));
}

// Equality of the decoded code points (for valid UTF-8 the same as byte equality).
inline bool exact_match(std::string_view a, std::string_view b) {
  return utf8_to_code_points(a) == utf8_to_code_points(b);
}

// ---- weighted alignment ---------------------------------------------------------------------

struct edit_op {
  enum class kind { substitute, del, insert };
  kind op;
  char32_t ref_char;  // 0 for insert
  char32_t hyp_char;  // 0 for delete
  std::size_t pos;    // index in the reference (substitute, delete) or hypothesis (insert)
  double cost;
};

inline const char* to_string(edit_op::kind k) {
  return k == edit_op::kind::substitute ? "substitute" : k == edit_op::kind::del ? "delete" : "insert";
}

struct alignment {
  double cost = 0;            // minimum total cost
  std::vector<edit_op> ops;   // one optimal list, in reference order; matches are omitted
};

// Minimum-cost alignment of hypothesis against reference. Costs: deleting reference char c
// costs weight(c), inserting hypothesis char c costs weight(c), substituting a -> b (a != b)
// costs weight(a) (the reference char, as the seed attributes it), a match is free. The
// backtrace prefers match/substitution, then deletion, then insertion.
// Worked example, weight 2 for digits: ref "余443张", hyp "余4443张" -> cost 2:
// insert '余' at hyp 0, substitute '余' -> '4' at ref 0 (cheaper than inserting a '4').
// requires: weight(c) > 0 for every c. O(len ref * len hyp) time and memory.
template <class Weight>
alignment weighted_alignment(std::u32string_view ref, std::u32string_view hyp, Weight&& weight) {
  const std::size_t n = ref.size(), m = hyp.size();
  std::vector<double> dp((n + 1) * (m + 1));  // dp[i][j]: cost of ref[:i] vs hyp[:j]
  auto at = [&](std::size_t i, std::size_t j) -> double& { return dp[i * (m + 1) + j]; };
  for (std::size_t i = 1; i <= n; ++i) at(i, 0) = at(i - 1, 0) + weight(ref[i - 1]);
  for (std::size_t j = 1; j <= m; ++j) at(0, j) = at(0, j - 1) + weight(hyp[j - 1]);
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const double wr = weight(ref[i - 1]);
      const double sub = at(i - 1, j - 1) + (ref[i - 1] == hyp[j - 1] ? 0.0 : wr);
      at(i, j) = std::min({sub, at(i - 1, j) + wr, at(i, j - 1) + weight(hyp[j - 1])});
    }
  alignment out;
  out.cost = at(n, m);
  for (std::size_t i = n, j = m; i > 0 || j > 0;) {
    if (i > 0 && j > 0) {
      const bool same = ref[i - 1] == hyp[j - 1];
      const double c = same ? 0.0 : weight(ref[i - 1]);
      if (at(i, j) == at(i - 1, j - 1) + c) {
        if (!same) out.ops.push_back({edit_op::kind::substitute, ref[i - 1], hyp[j - 1], i - 1, c});
        --i, --j;
        continue;
      }
    }
    if (i > 0 && at(i, j) == at(i - 1, j) + weight(ref[i - 1])) {
      out.ops.push_back({edit_op::kind::del, ref[i - 1], 0, i - 1, weight(ref[i - 1])});
      --i;
    } else {
      out.ops.push_back({edit_op::kind::insert, 0, hyp[j - 1], j - 1, weight(hyp[j - 1])});
      --j;
    }
  }
  std::reverse(out.ops.begin(), out.ops.end());
  return out;
}

// Weights for the seed's OCR reward: `important` chars weigh `important_weight`, others 1.
struct char_weights {
  std::u32string important = U"0123456789\u00A5$";  // 0-9, ¥ (U+00A5), $
  double important_weight = 2.0;
  double operator()(char32_t c) const { return important.find(c) != std::u32string::npos ? important_weight : 1.0; }
};

// Weighted CER = minimum weighted cost / len(reference); empty reference: 1.0 if the
// hypothesis is non-empty, else 0.0. With no important chars this equals cer().
inline double weighted_cer(std::u32string_view ref, std::u32string_view hyp, const char_weights& w = {}) {
  if (ref.empty()) return hyp.empty() ? 0.0 : 1.0;
  return weighted_alignment(ref, hyp, w).cost / static_cast<double>(ref.size());
}

// ---- aggregates -----------------------------------------------------------------------------

struct ocr_row_score {
  std::size_t distance = 0;  // levenshtein(response, reference)
  std::size_t reference_length = 0;
  double text_acc = 0;
  double cer = 0;
  bool exact = false;
};

struct ocr_scores {
  std::size_t n = 0;
  double text_acc = 0;        // mean of per-row text_acc (the seed's text_acc)
  double cer = 0;             // mean of per-row CER
  double cer_corpus = 0;      // sum of distances / sum of reference lengths (0 if all empty)
  double exact_match = 0;     // fraction of rows with response == reference
  double exact_match_se = 0;  // sqrt(p (1 - p) / n), the binomial standard error
};

// Adds rows one at a time; result() is valid for any n (all zeros when n == 0).
class ocr_score_accumulator {
 public:
  ocr_row_score add(std::string_view response, std::string_view reference) {
    const auto h = utf8_to_code_points(response), r = utf8_to_code_points(reference);
    ocr_row_score s;
    s.distance = levenshtein(h, r);
    s.reference_length = r.size();
    const std::size_t m = std::max(h.size(), r.size());
    s.text_acc = m == 0 ? 1.0 : 1 - static_cast<double>(s.distance) * 1.0 / static_cast<double>(m);
    s.cer = r.empty() ? (h.empty() ? 0.0 : 1.0) : static_cast<double>(s.distance) / static_cast<double>(r.size());
    s.exact = h == r;
    ++n_;
    sum_acc_ += s.text_acc;
    sum_cer_ += s.cer;
    sum_dist_ += s.distance;
    sum_len_ += s.reference_length;
    exact_ += s.exact;
    return s;
  }
  ocr_scores result() const {
    ocr_scores o;
    o.n = n_;
    if (n_ == 0) return o;
    const double n = static_cast<double>(n_);
    o.text_acc = sum_acc_ / n;
    o.cer = sum_cer_ / n;
    o.cer_corpus = sum_len_ ? static_cast<double>(sum_dist_) / static_cast<double>(sum_len_) : 0.0;
    o.exact_match = static_cast<double>(exact_) / n;
    o.exact_match_se = std::sqrt(o.exact_match * (1 - o.exact_match) / n);
    return o;
  }

 private:
  std::size_t n_ = 0, exact_ = 0, sum_dist_ = 0, sum_len_ = 0;
  double sum_acc_ = 0, sum_cer_ = 0;
};

}  // namespace vlm::metrics
