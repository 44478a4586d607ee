// PEFT adapter folders: adapter_config.json + adapter_model.safetensors (spec 1.5).
// Keys: "base_model.model." + module path + ".lora_A.weight" / ".lora_B.weight" (no adapter
// name). Loading accepts both transformers layouts (model.layers.* and
// model.language_model.layers.*; visual.* and model.visual.*).
#pragma once
#include <filesystem>
#include <fstream>
#include <map>

#include "vlm/io/safetensors.hpp"
#include "vlm/train/lora_model.hpp"

namespace vlm::train {

inline constexpr const char* peft_prefix = "base_model.model.";

// Module path in our (on-disk Qwen2.5-VL) layout from a PEFT key's module part.
inline std::string normalize_module_path(std::string path) {
  if (path.rfind("model.language_model.", 0) == 0) path = "model." + path.substr(21);
  else if (path.rfind("model.visual.", 0) == 0) path = path.substr(6);
  return path;
}

template <class Model>
void save_adapter(const std::filesystem::path& dir, Model& m, const lora_config& cfg, const lora_targets& targets,
                  const std::string& base_model = "") {
  std::filesystem::create_directories(dir);
  std::vector<io::tensor_ref> refs;
  for_each_lora(m, [&](const std::string& path, auto& layer) {
    if (!layer.has_adapter()) return;
    refs.push_back(io::tensor_ref::of(peft_prefix + path + ".lora_A.weight", cast<float>(layer.lora_A.value)));
    refs.push_back(io::tensor_ref::of(peft_prefix + path + ".lora_B.weight", cast<float>(layer.lora_B.value)));
  });
  VLM_CHECK(!refs.empty(), "[peft] the model has no LoRA adapters to save");
  io::save_safetensors(dir / "adapter_model.safetensors", std::move(refs), {{"format", "pt"}});
  nlohmann::json c = {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"}, {"base_model_name_or_path", base_model},
                      {"r", cfg.rank}, {"lora_alpha", cfg.alpha}, {"lora_dropout", cfg.dropout},
                      {"target_modules", peft_target_regex(targets)}, {"bias", "none"}, {"fan_in_fan_out", false},
                      {"use_rslora", cfg.use_rslora}, {"use_dora", false}, {"init_lora_weights", true},
                      {"modules_to_save", nullptr}, {"rank_pattern", nlohmann::json::object()},
                      {"alpha_pattern", nlohmann::json::object()}, {"inference_mode", true}, {"lora_bias", false},
                      {"revision", nullptr}, {"layers_to_transform", nullptr}, {"layers_pattern", nullptr}};
  io::atomic_write(dir / "adapter_config.json", [&](std::ostream& out) { out << c.dump(2) << "\n"; });
}

inline lora_config read_adapter_config(const std::filesystem::path& dir) {
  auto file = dir / "adapter_config.json";
  std::ifstream in(file);
  if (!in) fail<io_error>("[peft] cannot open '", file.string(), "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail<format_error>("[peft] '", file.string(), "' is not valid JSON: ", e.what());
  }
  for (const char* key : {"r", "lora_alpha"})
    if (!j.contains(key) || !j[key].is_number()) fail<config_error>("[peft] '", file.string(), "': missing number '", key, "'");
  if (j.value("use_dora", false)) fail<config_error>("[peft] '", file.string(), "': DoRA adapters are not supported");
  if (!j.value("rank_pattern", nlohmann::json::object()).empty() || !j.value("alpha_pattern", nlohmann::json::object()).empty())
    fail<config_error>("[peft] '", file.string(), "': rank_pattern/alpha_pattern are not supported");
  lora_config c;
  c.rank = j["r"].get<std::int64_t>();
  c.alpha = j["lora_alpha"].get<float>();
  c.dropout = j.value("lora_dropout", 0.f);
  c.use_rslora = j.value("use_rslora", false);
  return c;
}

// Attaches and fills adapters from a PEFT folder; every tensor in the file must find its layer.
template <class Model>
lora_config load_adapter(const std::filesystem::path& dir, Model& m) {
  auto cfg = read_adapter_config(dir);
  auto file = io::safetensors_file::open(dir / "adapter_model.safetensors");
  std::map<std::string, std::pair<std::string, std::string>> by_path;  // path -> (A key, B key)
  for (const auto& name : file.names()) {
    if (name.rfind(peft_prefix, 0) != 0) fail<format_error>("[peft] tensor '", name, "' in '", file.path().string(), "' does not start with ", peft_prefix);
    std::string rest = name.substr(std::string(peft_prefix).size());
    for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
      const std::string s = suffix;
      if (rest.size() > s.size() && rest.compare(rest.size() - s.size(), s.size(), s) == 0) {
        auto path = normalize_module_path(rest.substr(0, rest.size() - s.size()));
        (s == ".lora_A.weight" ? by_path[path].first : by_path[path].second) = name;
      }
    }
  }
  std::size_t used = 0;
  using T = typename Model::value_type;
  for_each_lora(m, [&](const std::string& path, auto& layer) {
    auto it = by_path.find(path);
    if (it == by_path.end()) return;
    const auto& [ka, kb] = it->second;
    if (ka.empty() || kb.empty()) fail<format_error>("[peft] '", path, "' has only one of lora_A / lora_B in '", file.path().string(), "'");
    auto a = file.get_as<T>(ka), b = file.get_as<T>(kb);
    VLM_CHECK_AS(shape_error, a.shape() == vlm::shape({cfg.rank, layer.in_features()}) && b.shape() == vlm::shape({layer.out_features(), cfg.rank}),
                 "[peft] '", path, "': lora_A ", a.shape().str(), " / lora_B ", b.shape().str(), " do not fit a [",
                 layer.out_features(), ", ", layer.in_features(), "] layer with r = ", cfg.rank);
    layer.lora_A = parameter<T, typename Model::backend_type>(a.clone());
    layer.lora_B = parameter<T, typename Model::backend_type>(b.clone());
    layer.scaling = cfg.scale();
    layer.dropout = cfg.dropout;
    ++used;
  });
  if (used != by_path.size()) {
    for (const auto& [path, keys] : by_path) {
      bool found = false;
      for_each_lora(m, [&](const std::string& p, auto&) { found = found || p == path; });
      if (!found) fail<format_error>("[peft] adapter for '", path, "' in '", file.path().string(), "' matches no LoRA-capable layer of the model");
    }
  }
  return cfg;
}

}  // namespace vlm::train
