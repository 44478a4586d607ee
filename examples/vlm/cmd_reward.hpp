// vlm reward: run GRPO reward functions on a jsonl of completions, as `swift rlhf` would score
// them, without a model.
//   vlm reward --reward_funcs external_ocr_format format [--reward_weights 1 0.5]
//              [--ocr_mode true|literal] [--external_plugins ./my_rewards.so]
//              --input FILE.jsonl [--completion_key completion] [--solution_key solution]
// List flags take swift's space-separated values or commas (--reward_funcs a,b). Each row
// passes its completion, its solution and the whole row (any other column) to every function.
// Prints one JSON line per row: {"<func>": reward, ..., "reward": weighted sum}; NaN -> null.
// A summary (mean per function) goes to stderr.
#pragma once
#include <cmath>
#include <fstream>
#include <iostream>

#include <vlm/rl/rewards.hpp>

#include "args.hpp"
#include "cmd_eval.hpp"  // split_commas

namespace vlm::cli {

// argv with swift's multi-value flags folded: "--reward_funcs a b --x" -> "--reward_funcs=a,b --x".
struct folded_argv {
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
  folded_argv(int argc, char** argv, const std::set<std::string>& list_flags) {
    for (int i = 0; i < argc; ++i) {
      std::string a = argv[i], name = a.rfind("--", 0) == 0 ? a.substr(2) : "";
      for (auto& c : name)
        if (c == '-') c = '_';
      if (i >= 2 && list_flags.count(name)) {
        std::string joined;
        while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
          if (!joined.empty()) joined += ',';
          joined += argv[++i];
        }
        if (!joined.empty()) {
          a = "--";
          a += name;
          a += '=';
          a += joined;
        }
      }
      storage.push_back(a);
    }
    for (auto& s : storage) ptrs.push_back(s.data());
  }
};

inline int cmd_reward(int argc, char** argv) {
  const std::set<std::string> lists = {"reward_funcs", "reward_weights", "external_plugins"};
  folded_argv fa(argc, argv, lists);
  args a(static_cast<int>(fa.ptrs.size()), fa.ptrs.data(), 2,
         {"reward_funcs", "reward_weights", "ocr_mode", "external_plugins", "input", "completion_key", "solution_key"});
  std::vector<std::string> names;
  for (const auto& v : a.all("reward_funcs"))
    for (auto& n : split_commas("reward_funcs", v)) names.push_back(n);
  if (names.empty()) throw usage_error("missing required flag --reward_funcs");
  std::vector<double> weights;
  for (const auto& v : a.all("reward_weights"))
    for (auto& w : split_commas("reward_weights", v)) {
      try {
        std::size_t used = 0;
        weights.push_back(std::stod(w, &used));
        if (used != w.size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        throw usage_error("flag --reward_weights expects numbers, got '" + w + "'");
      }
    }
  for (const auto& v : a.all("external_plugins"))
    for (auto& p : split_commas("external_plugins", v)) rl::load_reward_plugin(p);
  rl::reward_options options = rl::reward_options::object();
  if (a.has("ocr_mode")) options["ocr_mode"] = a.get("ocr_mode");
  rl::reward_set set(names, weights, options);

  const std::string path = a.required("input");
  const std::string ckey = a.get("completion_key", "completion"), skey = a.get("solution_key", "solution");
  std::ifstream in(path);
  if (!in) throw vlm::io_error("[reward] cannot open --input '" + path + "'");
  std::vector<nlohmann::json> rows;
  std::vector<rl::reward_input> inputs;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = path + ":" + std::to_string(n);
    try {
      rows.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& e) {
      throw vlm::format_error("[reward] " + at + ": not valid JSON: " + e.what());
    }
    const auto& row = rows.back();
    if (!row.is_object()) throw vlm::format_error("[reward] " + at + ": expected a JSON object");
    if (!row.contains(ckey) || !row[ckey].is_string())
      throw vlm::format_error("[reward] " + at + ": field '" + ckey + "' (the completion) must be a string. Hint: --completion_key");
    rl::reward_input x;
    x.completion = row[ckey].get<std::string>();
    if (row.contains(skey)) {
      if (!row[skey].is_string()) throw vlm::format_error("[reward] " + at + ": field '" + skey + "' must be a string");
      x.solution = row[skey].get<std::string>();
    }
    inputs.push_back(std::move(x));
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i].row = &rows[i];  // rows no longer grows
  const auto r = set(inputs);
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    nlohmann::json out = nlohmann::json::object();
    for (std::size_t k = 0; k < names.size(); ++k) out[names[k]] = num(r.per_func[k][i]);
    out["reward"] = num(r.total[i]);
    std::cout << out.dump() << "\n";
  }
  std::cerr << "[vlm reward] " << inputs.size() << " rows";
  for (std::size_t k = 0; k < names.size(); ++k) {
    double sum = 0;
    std::size_t n = 0;
    for (double v : r.per_func[k])
      if (!std::isnan(v)) sum += v, ++n;
    std::cerr << " | " << names[k] << " mean " << (n ? sum / static_cast<double>(n) : 0.0);
  }
  std::cerr << "\n";
  return 0;
}

}  // namespace vlm::cli
