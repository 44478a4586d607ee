// Which layers get a LoRA adapter and which parameters train (ms-swift semantics, spec 1.3-1.4).
//   all-linear: every Linear of the enabled parts -- the LLM (model.*) unless freeze_llm, the ViT
//     blocks (visual.blocks.*) unless freeze_vit, the merger (visual.merger.*) unless
//     freeze_aligner -- never lm_head. Defaults: LLM only, i.e. q/k/v/o/gate/up/down_proj.
//   a list of names: PEFT's suffix match (name == path or path ends with "." + name), all parts.
//   a regex: std::regex full match on the module path (PEFT's re.fullmatch).
#pragma once
#include <regex>
#include <string>
#include <vector>

namespace vlm::train {

struct lora_targets {
  std::vector<std::string> target_modules{"all-linear"};
  std::string target_regex;  // when non-empty, wins over target_modules
  bool freeze_llm = false, freeze_vit = true, freeze_aligner = true;
};

enum class model_part { llm, vit, aligner, head, other };

inline model_part part_of(const std::string& path) {
  if (path.rfind("visual.merger.", 0) == 0) return model_part::aligner;
  if (path.rfind("visual.", 0) == 0) return model_part::vit;
  if (path.rfind("model.", 0) == 0) return model_part::llm;
  if (path.rfind("lm_head", 0) == 0) return model_part::head;
  return model_part::other;
}

inline bool part_enabled(model_part p, const lora_targets& t) {
  switch (p) {
    case model_part::llm: return !t.freeze_llm;
    case model_part::vit: return !t.freeze_vit;
    case model_part::aligner: return !t.freeze_aligner;
    default: return false;
  }
}

// True when the Linear at `path` (e.g. "model.layers.0.self_attn.q_proj") gets an adapter.
inline bool is_lora_target(const std::string& path, const lora_targets& t) {
  if (!t.target_regex.empty()) return std::regex_match(path, std::regex(t.target_regex));
  for (const auto& name : t.target_modules) {
    if (name == "all-linear") {
      if (part_enabled(part_of(path), t)) return true;
      continue;
    }
    if (path == name || (path.size() > name.size() && path.compare(path.size() - name.size(), name.size(), name) == 0 &&
                         path[path.size() - name.size() - 1] == '.'))
      return true;
  }
  return false;
}

// PEFT's target_modules string for adapter_config.json (ms-swift writes one anchored regex).
inline std::string peft_target_regex(const lora_targets& t) {
  if (!t.target_regex.empty()) return t.target_regex;
  std::vector<std::string> parts;
  const std::string llm = "q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj";
  for (const auto& name : t.target_modules)
    if (name != "all-linear") parts.push_back(name);
  bool all = std::find(t.target_modules.begin(), t.target_modules.end(), "all-linear") != t.target_modules.end();
  std::string re;
  if (all && !t.freeze_llm) re += "model(?=\\.).*\\.(" + llm + ")";
  if (all && !t.freeze_vit)
    re += std::string(re.empty() ? "" : "|") + "(?!visual\\.merger)visual(?=\\.).*\\.(qkv|attn\\.proj|gate_proj|up_proj|down_proj)";
  if (all && !t.freeze_aligner) re += std::string(re.empty() ? "" : "|") + "visual\\.merger(?=\\.).*\\.(mlp\\.0|mlp\\.2)";
  if (!re.empty()) return "^(" + re + ")$";
  std::string list;
  for (const auto& p : parts) list += (list.empty() ? "" : "|") + p;
  return ".*\\.(" + list + ")";
}

}  // namespace vlm::train
