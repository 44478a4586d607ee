// vlm init-model --out DIR [--tokenizer DIR | --char_vocab true] [--hidden_size 32 --num_hidden_layers 2 ...] [--seed 0]
// Writes a small Qwen2.5-VL Hugging Face folder with random weights (config.json,
// model.safetensors, preprocessor_config.json, generation_config.json) and copies the
// tokenizer files from --tokenizer, or with --char_vocab writes a character-level tokenizer
// for the synthetic OCR set (vlm/data/char_tokenizer.hpp, ~300 tokens); the vocabulary is
// sized to fit the tokenizer. For tests and demos that must run on a CPU in seconds; weights
// follow transformers' fresh init (normal(0, 0.02), biases 0, RMSNorm weights 1).
#pragma once
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <vlm/data/char_tokenizer.hpp>
#include <vlm/data/synthetic_ocr.hpp>
#include <vlm/io/atomic_file.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/model.hpp>
#include <vlm/tokenizer/tokenizer.hpp>

#include "args.hpp"

namespace vlm::cli {

inline void write_json(const std::filesystem::path& p, const nlohmann::json& j) {
  std::ofstream out(p);
  if (!out) throw vlm::io_error("cannot write '" + p.string() + "'");
  out << j.dump(2) << "\n";
}

inline int cmd_init_model(int argc, char** argv) {
  namespace fs = std::filesystem;
  args a(argc, argv, 2, {"out", "tokenizer", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                         "intermediate_size", "vision_hidden_size", "vision_depth", "seed", "max_pixels", "min_pixels",
                         "char_vocab", "rope_theta", "mrope_section"},
         {"char_vocab"}, {"mrope_section"});
  const fs::path out = a.required("out");
  const bool char_vocab = a.get_bool("char_vocab", false);
  if (char_vocab && a.has("tokenizer")) throw usage_error("give either --tokenizer or --char_vocab true, not both");
  fs::create_directories(out);
  std::int64_t vocab = 1024, image = 1012, vstart = 1009, vend = 1010, eos = 1002, pad = 1000;
  if (a.has("tokenizer") || char_vocab) {
    const fs::path src = char_vocab ? out : fs::path(a.get("tokenizer"));
    if (char_vocab) data::write_char_tokenizer(out, data::ocr_tokenizer_charset());
    auto tok = tokenizer::tokenizer::from_dir(src);
    if (!char_vocab)
      for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "chat_template.json", "added_tokens.json"})
        if (fs::exists(src / f)) fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
    vocab = (static_cast<std::int64_t>(tok.vocab_size()) + 63) / 64 * 64;
    image = tok.token_to_id("<|image_pad|>");
    vstart = tok.token_to_id("<|vision_start|>");
    vend = tok.token_to_id("<|vision_end|>");
    eos = tok.eos_token_id();
    pad = tok.pad_token_id();
  }
  const std::int64_t hidden = a.get_int("hidden_size", 32), heads = a.get_int("num_attention_heads", 4);
  const std::int64_t head_dim = hidden / heads;
  if (hidden % heads != 0 || head_dim % 4 != 0) throw usage_error("--hidden_size must be a multiple of 4 x num_attention_heads");
  // M-RoPE gives the temporal section the highest frequencies and the width section the
  // lowest; Qwen's split ([16, 24, 24] of 64 at theta 1e6) leaves a 12-token-wide image with
  // almost no width signal in a 24-wide head, so a tiny OCR model cannot tell its image tokens
  // apart. --mrope_section 1 1 10 --rope_theta 10000 gives width 10 of 12 frequency pairs.
  const std::int64_t half = head_dim / 2;
  std::vector<std::int64_t> section{half - 2 * (half * 3 / 8), half * 3 / 8, half * 3 / 8};
  if (a.has("mrope_section")) {
    section.clear();
    for (const auto& v : a.all("mrope_section")) {
      std::size_t used = 0;
      long long x = -1;
      try {
        x = std::stoll(v, &used);
      } catch (const std::exception&) {
      }
      if (used != v.size() || x < 0) throw usage_error("--mrope_section: '" + v + "' is not a non-negative integer");
      section.push_back(x);
    }
    std::int64_t sum = 0;
    for (auto v : section) sum += v;
    if (section.size() != 3 || sum != half)
      throw usage_error("--mrope_section needs 3 values summing to head_dim / 2 = " + std::to_string(half));
  }
  const std::int64_t vision_hidden = a.get_int("vision_hidden_size", 32);
  nlohmann::json cfg = {
      {"architectures", {"Qwen2_5_VLForConditionalGeneration"}}, {"model_type", "qwen2_5_vl"},
      {"hidden_size", hidden}, {"num_hidden_layers", a.get_int("num_hidden_layers", 2)},
      {"num_attention_heads", heads}, {"num_key_value_heads", a.get_int("num_key_value_heads", 2)},
      {"intermediate_size", a.get_int("intermediate_size", 4 * hidden)}, {"vocab_size", vocab},
      {"rms_norm_eps", 1e-6}, {"rope_theta", a.get_double("rope_theta", 1000000.0)}, {"max_position_embeddings", 4096},
      {"rope_scaling", {{"type", "mrope"}, {"mrope_section", section}}},
      {"tie_word_embeddings", true}, {"hidden_act", "silu"}, {"torch_dtype", "float32"},
      {"image_token_id", image}, {"video_token_id", image + 1}, {"vision_start_token_id", vstart},
      {"vision_end_token_id", vend}, {"vision_token_id", vend + 1}, {"bos_token_id", pad}, {"eos_token_id", eos},
      {"vision_config", {{"depth", a.get_int("vision_depth", 2)}, {"hidden_size", vision_hidden}, {"num_heads", 4},
                         {"intermediate_size", 2 * vision_hidden}, {"out_hidden_size", hidden},
                         {"fullatt_block_indexes", {1}}, {"window_size", 112}, {"patch_size", 14},
                         {"temporal_patch_size", 2}, {"spatial_merge_size", 2}, {"in_channels", 3},
                         {"tokens_per_second", 2}, {"hidden_act", "silu"}, {"model_type", "qwen2_5_vl"}}}};
  auto c = qwen2_5_vl::config::from_json(cfg, "generated config");
  qwen2_5_vl::model<float, cpu> m(c);
  std::mt19937 rng(static_cast<std::uint32_t>(a.get_int("seed", 0)));
  std::normal_distribution<float> normal(0.f, 0.02f);
  std::vector<io::tensor_ref> refs;
  m.visit_params([&](const std::string& name, auto& p) {
    const bool is_norm = name.find("norm") != std::string::npos || name.find("ln_q") != std::string::npos;
    const bool is_bias = name.size() > 5 && name.substr(name.size() - 5) == ".bias";
    for (std::int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] = is_norm ? 1.f : is_bias ? 0.f : normal(rng);
    refs.push_back(io::tensor_ref::of(name, p.value));
  });
  io::save_safetensors(out / "model.safetensors", std::move(refs), {{"format", "pt"}});
  write_json(out / "config.json", cfg);
  write_json(out / "generation_config.json", {{"eos_token_id", {eos}}, {"pad_token_id", pad}, {"bos_token_id", pad}});
  write_json(out / "preprocessor_config.json",
             {{"min_pixels", a.get_int("min_pixels", 3136)}, {"max_pixels", a.get_int("max_pixels", 200704)},
              {"patch_size", 14}, {"temporal_patch_size", 2}, {"merge_size", 2},
              {"image_mean", {0.48145466, 0.4578275, 0.40821073}}, {"image_std", {0.26862954, 0.26130258, 0.27577711}},
              {"rescale_factor", 1.0 / 255.0}, {"do_resize", true}, {"do_rescale", true}, {"do_normalize", true},
              {"do_convert_rgb", true}, {"resample", 3}, {"image_processor_type", "Qwen2VLImageProcessor"},
              {"processor_class", "Qwen2_5_VLProcessor"}});
  std::cout << "wrote " << out.string() << ": " << nn::count_params(m) << " parameters, vocab " << vocab << "\n";
  return 0;
}

}  // namespace vlm::cli
