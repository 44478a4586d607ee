// Scores a result jsonl as `vlm infer --val_dataset ... --result_path Y.jsonl` writes it (one
// object per line with "response" = the model's answer and "labels" = the reference), or any
// jsonl with other column names ("solution", ...): per-row scores plus the aggregate
// (mean text_acc as in the seed's evaluation loop, mean CER, exact match ± standard error).
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"               // format_error, io_error
#include "vlm/metrics/edit_distance.hpp"    // ocr_score_accumulator

namespace vlm::metrics {

struct ocr_eval_options {
  // The first key present in a row is used; a row with none of them is an error.
  std::vector<std::string> response_keys = {"response"};
  std::vector<std::string> reference_keys = {"labels", "solution"};
  bool keep_rows = true;  // fill ocr_eval_result::rows
};

struct ocr_eval_row {
  std::size_t line = 0;  // 1-based line in the file (or index + 1 for in-memory rows)
  std::string response, reference;
  ocr_row_score score;
};

struct ocr_eval_result {
  ocr_scores summary;
  std::vector<ocr_eval_row> rows;
};

namespace detail {
inline std::string pick_string(const nlohmann::json& row, const std::vector<std::string>& keys, const std::string& where,
                               const char* what) {
  for (const auto& k : keys) {
    auto it = row.find(k);
    if (it == row.end()) continue;
    if (!it->is_string())
      throw format_error("[ocr_eval] " + where + ": field '" + k + "' (" + what + ") must be a string, got " +
                         it->type_name());
    return it->get<std::string>();
  }
  std::string list;
  for (const auto& k : keys) list += (list.empty() ? "'" : ", '") + k + "'";
  throw format_error("[ocr_eval] " + where + ": no " + what + " field (looked for " + list + ")");
}
}  // namespace detail

// throws: format_error naming `where`:line and the field for a row that is not an object or
// lacks a string response/reference.
inline ocr_eval_result score_rows(const std::vector<nlohmann::json>& rows, const ocr_eval_options& opt = {},
                                  const std::string& where = "rows") {
  ocr_eval_result out;
  ocr_score_accumulator acc;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string at = where + ":" + std::to_string(i + 1);
    if (!rows[i].is_object()) throw format_error("[ocr_eval] " + at + ": expected a JSON object");
    ocr_eval_row r;
    r.line = i + 1;
    r.response = detail::pick_string(rows[i], opt.response_keys, at, "response");
    r.reference = detail::pick_string(rows[i], opt.reference_keys, at, "reference");
    r.score = acc.add(r.response, r.reference);
    if (opt.keep_rows) out.rows.push_back(std::move(r));
  }
  out.summary = acc.result();
  return out;
}

// Reads `path` (blank lines skipped) and scores it.
// throws: io_error if unreadable; format_error "path:line: ..." for bad JSON, missing fields,
// or a file with no rows.
inline ocr_eval_result score_jsonl(const std::string& path, const ocr_eval_options& opt = {}) {
  std::ifstream in(path);
  if (!in) throw io_error("[ocr_eval] cannot open '" + path + "'");
  ocr_eval_result out;
  ocr_score_accumulator acc;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = path + ":" + std::to_string(n);
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw format_error("[ocr_eval] " + at + ": not valid JSON: " + e.what());
    }
    if (!row.is_object()) throw format_error("[ocr_eval] " + at + ": expected a JSON object");
    ocr_eval_row r;
    r.line = n;
    r.response = detail::pick_string(row, opt.response_keys, at, "response");
    r.reference = detail::pick_string(row, opt.reference_keys, at, "reference");
    r.score = acc.add(r.response, r.reference);
    if (opt.keep_rows) out.rows.push_back(std::move(r));
  }
  out.summary = acc.result();
  if (out.summary.n == 0) throw format_error("[ocr_eval] '" + path + "' has no rows");
  return out;
}

inline nlohmann::json to_json(const ocr_scores& s) {
  return {{"n", s.n},           {"text_acc", s.text_acc},       {"cer", s.cer}, {"cer_corpus", s.cer_corpus},
          {"exact_match", s.exact_match}, {"exact_match_se", s.exact_match_se}};
}

}  // namespace vlm::metrics
