// Qwen2.5-VL configuration, parsed from a Hugging Face config.json (spec 1.1).
// Every field the model needs is read from the file; a missing required key is an error
// naming its JSON path; unknown keys are ignored. rope_scaling accepts both
// {"type": "mrope", ...} (Hub files) and {"rope_type": "default", ...} (save_pretrained).
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm::qwen2_5_vl {

struct vision_config {
  std::int64_t depth = 32, hidden_size = 1280, num_heads = 16, intermediate_size = 3420;
  std::int64_t patch_size = 14, temporal_patch_size = 2, spatial_merge_size = 2, window_size = 112;
  std::int64_t out_hidden_size = 2048, in_channels = 3, tokens_per_second = 2;
  std::vector<std::int64_t> fullatt_block_indexes{7, 15, 23, 31};
  std::string hidden_act = "silu";
  std::int64_t head_dim() const { return hidden_size / num_heads; }
  // Merge units per window side (window_size is in pixels).
  std::int64_t window_units() const { return window_size / spatial_merge_size / patch_size; }
};

struct text_config {
  std::int64_t hidden_size = 2048, num_hidden_layers = 36, num_attention_heads = 16, num_key_value_heads = 2;
  std::int64_t intermediate_size = 11008, vocab_size = 151936, max_position_embeddings = 128000;
  float rms_norm_eps = 1e-6f, rope_theta = 1000000.f;
  std::vector<std::int64_t> mrope_section{16, 24, 24};
  bool tie_word_embeddings = false;
  std::string hidden_act = "silu";
  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

struct config {
  text_config text;
  vision_config vision;
  std::int64_t image_token_id = 151655, video_token_id = 151656;
  std::int64_t vision_start_token_id = 151652, vision_end_token_id = 151653;
  std::int64_t bos_token_id = 151643;
  std::vector<std::int64_t> eos_token_ids{151645};
  std::string torch_dtype = "bfloat16";
  nlohmann::json raw;  // the file as read, written back unchanged by exports

  static config from_json(const nlohmann::json& j, const std::string& where = "config.json");
  static config from_file(const std::filesystem::path& path);
  nlohmann::json to_json() const;
};

namespace detail {
template <class V>
void read(const nlohmann::json& j, const char* key, V& out, bool required, const std::string& where,
          const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail<config_error>("[config] ", where, ": missing required key '", path, key, "'");
    return;
  }
  try {
    out = it->get<V>();
  } catch (const nlohmann::json::exception& e) {
    fail<config_error>("[config] ", where, ": key '", path, key, "' has the wrong type (", it->type_name(), "): ", e.what());
  }
}
}  // namespace detail

inline config config::from_json(const nlohmann::json& j, const std::string& where) {
  using detail::read;
  VLM_CHECK_AS(config_error, j.is_object(), "[config] ", where, ": expected a JSON object");
  config c;
  c.raw = j;
  auto& t = c.text;
  read(j, "hidden_size", t.hidden_size, true, where, "");
  read(j, "num_hidden_layers", t.num_hidden_layers, true, where, "");
  read(j, "num_attention_heads", t.num_attention_heads, true, where, "");
  read(j, "num_key_value_heads", t.num_key_value_heads, true, where, "");
  read(j, "intermediate_size", t.intermediate_size, true, where, "");
  read(j, "vocab_size", t.vocab_size, true, where, "");
  read(j, "rms_norm_eps", t.rms_norm_eps, true, where, "");
  read(j, "rope_theta", t.rope_theta, false, where, "");
  read(j, "max_position_embeddings", t.max_position_embeddings, false, where, "");
  read(j, "tie_word_embeddings", t.tie_word_embeddings, false, where, "");
  read(j, "hidden_act", t.hidden_act, false, where, "");
  VLM_CHECK_AS(config_error, j.contains("rope_scaling") && j["rope_scaling"].is_object(), "[config] ", where,
               ": missing required key 'rope_scaling' (with mrope_section)");
  read(j["rope_scaling"], "mrope_section", t.mrope_section, true, where, "rope_scaling.");
  read(j, "image_token_id", c.image_token_id, true, where, "");
  read(j, "video_token_id", c.video_token_id, false, where, "");
  read(j, "vision_start_token_id", c.vision_start_token_id, true, where, "");
  read(j, "vision_end_token_id", c.vision_end_token_id, false, where, "");
  read(j, "bos_token_id", c.bos_token_id, false, where, "");
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null())
    c.eos_token_ids = it->is_array() ? it->get<std::vector<std::int64_t>>() : std::vector<std::int64_t>{it->get<std::int64_t>()};
  read(j, "torch_dtype", c.torch_dtype, false, where, "");

  VLM_CHECK_AS(config_error, j.contains("vision_config") && j["vision_config"].is_object(), "[config] ", where,
               ": missing required key 'vision_config'");
  const auto& v = j["vision_config"];
  auto& vc = c.vision;
  const std::string vp = "vision_config.";
  read(v, "depth", vc.depth, true, where, vp);
  read(v, "hidden_size", vc.hidden_size, true, where, vp);
  read(v, "num_heads", vc.num_heads, true, where, vp);
  read(v, "intermediate_size", vc.intermediate_size, true, where, vp);
  read(v, "out_hidden_size", vc.out_hidden_size, true, where, vp);
  read(v, "fullatt_block_indexes", vc.fullatt_block_indexes, true, where, vp);
  read(v, "window_size", vc.window_size, true, where, vp);
  read(v, "patch_size", vc.patch_size, false, where, vp);
  read(v, "temporal_patch_size", vc.temporal_patch_size, false, where, vp);
  read(v, "spatial_merge_size", vc.spatial_merge_size, false, where, vp);
  read(v, "in_channels", vc.in_channels, false, where, vp);  // HF reads in_channels, ignores in_chans
  read(v, "tokens_per_second", vc.tokens_per_second, false, where, vp);
  read(v, "hidden_act", vc.hidden_act, false, where, vp);

  VLM_CHECK_AS(config_error, t.hidden_size % t.num_attention_heads == 0 && t.num_attention_heads % t.num_key_value_heads == 0,
               "[config] ", where, ": hidden_size ", t.hidden_size, " / num_attention_heads ", t.num_attention_heads,
               " / num_key_value_heads ", t.num_key_value_heads, " do not divide");
  std::int64_t sec = 0;
  for (auto s : t.mrope_section) sec += s;
  VLM_CHECK_AS(config_error, t.mrope_section.size() == 3 && sec * 2 == t.head_dim(), "[config] ", where,
               ": rope_scaling.mrope_section must have 3 entries summing to head_dim/2 = ", t.head_dim() / 2);
  VLM_CHECK_AS(config_error, vc.hidden_size % vc.num_heads == 0, "[config] ", where, ": vision hidden_size ",
               vc.hidden_size, " not divisible by num_heads ", vc.num_heads);
  VLM_CHECK_AS(config_error, t.hidden_act == "silu" && vc.hidden_act == "silu", "[config] ", where,
               ": hidden_act '", t.hidden_act, "' / vision '", vc.hidden_act, "' unsupported (expected silu)");
  return c;
}

inline config config::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail<io_error>("[config] cannot open '", path.string(), "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail<format_error>("[config] '", path.string(), "' is not valid JSON: ", e.what());
  }
  return from_json(j, path.string());
}

inline nlohmann::json config::to_json() const { return raw; }

}  // namespace vlm::qwen2_5_vl
