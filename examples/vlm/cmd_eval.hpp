// vlm eval: the seed's OCR evaluation (section 4.6: mean text_acc = 1 - edit distance / max len)
// on a result jsonl from `vlm infer --val_dataset X --result_path Y.jsonl`.
//   vlm eval --result_path Y.jsonl [--out summary.json] [--response_key response]
//            [--reference_key labels,solution] [--per_row]
// Prints n, text_acc, CER (mean per row, and corpus-level), exact match ± its standard error;
// --per_row also prints one JSON line per row first. --out writes the summary as JSON.
#pragma once
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <vlm/metrics/ocr_eval.hpp>

#include "args.hpp"

namespace vlm::cli {

inline std::vector<std::string> split_commas(const std::string& flag, const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  if (out.empty()) throw usage_error("flag --" + flag + " expects a comma-separated list, got '" + v + "'");
  return out;
}

inline int cmd_eval(int argc, char** argv) {
  args a(argc, argv, 2, {"result_path", "out", "response_key", "reference_key", "per_row"}, {"per_row"});
  metrics::ocr_eval_options opt;
  if (a.has("response_key")) opt.response_keys = split_commas("response_key", a.get("response_key"));
  if (a.has("reference_key")) opt.reference_keys = split_commas("reference_key", a.get("reference_key"));
  const std::string path = a.required("result_path");
  const bool per_row = a.get_bool("per_row", false);
  opt.keep_rows = per_row;
  const auto r = metrics::score_jsonl(path, opt);
  for (const auto& row : r.rows)
    std::cout << nlohmann::json{{"line", row.line},         {"distance", row.score.distance},
                                {"text_acc", row.score.text_acc}, {"cer", row.score.cer},
                                {"exact", row.score.exact}}
                     .dump()
              << "\n";
  const auto& s = r.summary;
  std::printf("n: %zu\ntext_acc: %.6f\ncer: %.6f (corpus %.6f)\nexact_match: %.6f ± %.6f\n", s.n, s.text_acc, s.cer,
              s.cer_corpus, s.exact_match, s.exact_match_se);
  if (a.has("out")) {
    const std::string out = a.get("out");
    auto j = metrics::to_json(s);
    j["result_path"] = path;
    {
      std::ofstream f(out + ".tmp");
      if (!f) throw vlm::io_error("[eval] cannot write '" + out + "'");
      f << j.dump(2) << "\n";
      if (!f.flush()) throw vlm::io_error("[eval] cannot write '" + out + "'");
    }
    std::filesystem::rename(out + ".tmp", out);
  }
  return 0;
}

}  // namespace vlm::cli
