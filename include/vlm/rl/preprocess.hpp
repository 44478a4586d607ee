// Named dataset row preprocessors, the analogue of the preprocess_func ms-swift binds to a
// registered dataset (`register_dataset(DatasetMeta(..., preprocess_func=MyDataPreprocessor()))`):
// a function from one raw jsonl row to the row the trainer reads, run before the row is parsed.
//   preprocess_registry::global()   built-in: think_answer (the seed's MyDataPreprocessor)
//   reg.add("name", f)              f(nlohmann::json row) -> std::optional<nlohmann::json>;
//                                   std::nullopt drops the row (Python's `return None`)
//   preprocess_registrar r{"name", f}  registers into global() from a static object in your TU
//   `vlm rlhf --dataset_preprocess think_answer` applies one to every --dataset row.
// think_answer, exactly as the seed's section 4.3 (query missing -> ''):
//   query    = f'{query} Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.'
//   solution = row.get('response', '')
#pragma once
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"           // format_error
#include "vlm/rl/named_registry.hpp"    // named_registry

namespace vlm::rl {

using row_preprocessor = std::function<std::optional<nlohmann::json>(nlohmann::json row)>;

// The text the seed appends to every query (leading space included).
inline constexpr const char* think_answer_suffix =
    " Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.";

// The seed's MyDataPreprocessor.preprocess before ResponsePreprocessor takes over.
// throws: format_error for a non-string query/response, or a `messages` row (the seed reads
// only query/response columns).
inline std::optional<nlohmann::json> think_answer_preprocess(nlohmann::json row) {
  if (!row.is_object()) throw format_error("[preprocess] think_answer: expected a JSON object row");
  if (row.contains("messages") && !row.contains("query"))
    throw format_error("[preprocess] think_answer: expects query/response rows, got a 'messages' row");
  auto text = [&](const char* key) -> std::string {
    if (!row.contains(key)) return "";
    if (!row[key].is_string()) throw format_error(std::string("[preprocess] think_answer: '") + key + "' must be a string");
    return row[key].get<std::string>();
  };
  const std::string query = text("query"), solution = text("response");
  row["query"] = query + think_answer_suffix;
  row["solution"] = solution;
  return row;
}

class preprocess_registry {
 public:
  preprocess_registry() = default;  // empty (tests)
  preprocess_registry(const preprocess_registry&) = delete;
  preprocess_registry& operator=(const preprocess_registry&) = delete;

  // The process-wide registry, with the built-ins already added.
  static preprocess_registry& global() {
    static preprocess_registry r{builtins_tag{}};
    return r;
  }

  // throws: config_error for an empty or duplicate name.
  void add(const std::string& name, row_preprocessor f) { table_.add(name, std::move(f)); }
  void replace(const std::string& name, row_preprocessor f) { table_.replace(name, std::move(f)); }
  bool contains(const std::string& name) const { return table_.contains(name); }
  std::vector<std::string> names() const { return table_.names(); }
  // throws: config_error "unknown dataset preprocessor 'x' (known: ...)".
  row_preprocessor get(const std::string& name) const { return table_.at(name); }

 private:
  struct builtins_tag {};
  explicit preprocess_registry(builtins_tag) { table_.add("think_answer", think_answer_preprocess); }

  named_registry<row_preprocessor> table_{"preprocess", "dataset preprocessor",
                                          "Hint: register it with preprocess_registry::add (preprocess_registrar)"};
};

// `static vlm::rl::preprocess_registrar mine{"my_rows", f};` at namespace scope in your own TU.
struct preprocess_registrar {
  preprocess_registrar(const std::string& name, row_preprocessor f) { preprocess_registry::global().add(name, std::move(f)); }
};

}  // namespace vlm::rl
