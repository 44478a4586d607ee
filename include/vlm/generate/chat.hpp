// The seed's QwenVLModel, natively: chat messages in, answer text out.
//   chat_pipeline<Model>::from_pretrained(dir) reads config.json, the weights, tokenizer.json
//   (+ tokenizer_config.json), preprocessor_config.json and generation_config.json.
//   respond(batch of conversations, generation_config) renders the chat template, loads and
//   preprocesses images (qwen-vl-utils' fetch_image with each message's min/max_pixels, then the
//   processor, as the seed's process_vision_info + processor do), expands each <|image_pad|> to
//   the image's token count, left-pads the batch, generates, and detokenizes.
// Images: local paths, file:// and data:...;base64 URLs; http(s) URLs are rejected (no network).
// Image path (spec 3.1): with fetch_image_mode::when_limits_given (default) an image part that
// carries min_pixels/max_pixels/resized_* goes through qwen-vl-utils' fetch_image with those
// values first (the seed's messages), and any other part through the processor alone (what
// processor(text, images) does); ::always / ::never force one path.
#pragma once
#include <filesystem>
#include <fstream>

#include "vlm/generate/generate.hpp"
#include "vlm/io/base64.hpp"
#include "vlm/io/image.hpp"
#include "vlm/models/qwen2_5_vl/load.hpp"
#include "vlm/models/qwen2_5_vl/preprocess.hpp"
#include "vlm/tokenizer/chat_template.hpp"
#include "vlm/tokenizer/stream_decoder.hpp"
#include "vlm/tokenizer/tokenizer.hpp"

namespace vlm::generate {

using conversation = std::vector<tokenizer::chat_message>;

struct chat_response {
  std::string text;
  std::vector<std::int64_t> token_ids;
  std::string finish_reason;
};

struct chat_timings {
  double vision_ms = 0, prefill_ms = 0, decode_ms = 0;
  std::int64_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_tokens_per_s() const { return prefill_ms > 0 ? prompt_tokens / (prefill_ms / 1000.0) : 0; }
  double decode_tokens_per_s() const { return decode_ms > 0 ? generated_tokens / (decode_ms / 1000.0) : 0; }
};

// Resolves an image reference from a message. base_dir: where relative paths are resolved.
inline io::image load_message_image(const std::string& ref, const std::filesystem::path& base_dir = {}) {
  if (ref.rfind("http://", 0) == 0 || ref.rfind("https://", 0) == 0)
    fail<io_error>("[image] '", ref, "': http(s) URLs are not supported (no network access); download the image and pass a path");
  if (ref.rfind("data:", 0) == 0) {
    auto comma = ref.find(',');
    if (comma == std::string::npos || ref.substr(0, comma).find(";base64") == std::string::npos)
      fail<format_error>("[image] data URL must look like data:image/png;base64,<data>");
    auto bytes = io::base64_decode(std::string_view(ref).substr(comma + 1));
    return io::decode_image(bytes, io::rgb_conversion::alpha_composite_white, "data URL");
  }
  std::filesystem::path p = ref.rfind("file://", 0) == 0 ? ref.substr(7) : ref;
  if (p.is_relative() && !base_dir.empty()) p = base_dir / p;
  return io::load_image(p.string());
}

// Reads generation_config.json's defaults (eos ids, sampling) into a generation_config.
inline void apply_generation_defaults(const std::filesystem::path& file, generation_config& g) {
  std::ifstream in(file);
  if (!in) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail<format_error>("[generation_config] '", file.string(), "' is not valid JSON: ", e.what());
  }
  if (auto it = j.find("eos_token_id"); it != j.end()) {
    if (it->is_array()) for (auto& v : *it) g.stop_token_ids.push_back(v.get<std::int64_t>());
    else if (it->is_number_integer()) g.stop_token_ids.push_back(it->get<std::int64_t>());
  }
  if (auto it = j.find("pad_token_id"); it != j.end() && it->is_number_integer()) g.pad_token_id = it->get<std::int64_t>();
  if (auto it = j.find("do_sample"); it != j.end() && it->is_boolean()) g.sampling.do_sample = it->get<bool>();
  if (auto it = j.find("temperature"); it != j.end() && it->is_number()) g.sampling.temperature = it->get<float>();
  if (auto it = j.find("top_p"); it != j.end() && it->is_number()) g.sampling.top_p = it->get<float>();
  if (auto it = j.find("top_k"); it != j.end() && it->is_number()) g.sampling.top_k = it->get<std::int64_t>();
  if (auto it = j.find("repetition_penalty"); it != j.end() && it->is_number())
    g.sampling.repetition_penalty = it->get<float>();
}

enum class fetch_image_mode { when_limits_given, always, never };

template <class Model>
class chat_pipeline {
 public:
  using T = typename Model::value_type;

  chat_pipeline(Model model, tokenizer::tokenizer tok, qwen2_5_vl::image_processor_config proc)
      : model_(std::move(model)), tok_(std::move(tok)), proc_(proc) {
    defaults_.stop_token_ids = model_.cfg.eos_token_ids;
    defaults_.pad_token_id = tok_.pad_token_id() >= 0 ? tok_.pad_token_id() : model_.cfg.bos_token_id;
    max_model_len_ = model_.cfg.text.max_position_embeddings;
  }

  // throws: io_error / format_error / config_error naming the missing or bad file.
  static chat_pipeline from_pretrained(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    if (!fs::exists(dir / "tokenizer.json"))
      fail<io_error>("[infer] '", (dir / "tokenizer.json").string(), "' not found: the model folder needs a Hugging Face tokenizer.json");
    auto proc_file = dir / "preprocessor_config.json";
    auto proc = fs::exists(proc_file) ? qwen2_5_vl::image_processor_config::load(proc_file.string())
                                      : qwen2_5_vl::image_processor_config{};
    chat_pipeline p(qwen2_5_vl::from_pretrained<Model>(dir), tokenizer::tokenizer::from_dir(dir), proc);
    std::vector<std::int64_t> config_eos = p.defaults_.stop_token_ids;
    p.defaults_.stop_token_ids.clear();
    apply_generation_defaults(dir / "generation_config.json", p.defaults_);
    for (auto id : config_eos)
      if (std::find(p.defaults_.stop_token_ids.begin(), p.defaults_.stop_token_ids.end(), id) == p.defaults_.stop_token_ids.end())
        p.defaults_.stop_token_ids.push_back(id);
    return p;
  }

  const Model& model() const { return model_; }
  Model& model() { return model_; }
  const tokenizer::tokenizer& tok() const { return tok_; }
  qwen2_5_vl::image_processor_config& processor() { return proc_; }
  generation_config& defaults() { return defaults_; }
  std::int64_t& max_model_len() { return max_model_len_; }
  std::filesystem::path& image_base_dir() { return base_dir_; }
  fetch_image_mode& fetch_mode() { return fetch_mode_; }
  const chat_timings& timings() const { return timings_; }

  // Token ids (image pads expanded) and preprocessed images of one conversation.
  struct prepared {
    std::vector<std::int64_t> ids;
    qwen2_5_vl::processed_images images;
    bool has_images = false;
  };
  prepared prepare(const conversation& conv) const {
    prepared p;
    std::vector<io::image> imgs;
    std::vector<tensor<float, cpu>> rows;
    std::vector<qwen2_5_vl::grid_thw> grids;
    for (const auto& m : conv)
      for (const auto& part : m.parts) {
        if (part.type == tokenizer::content_part::kind::video)
          fail<config_error>("[infer] video inputs are not supported yet");
        if (part.type != tokenizer::content_part::kind::image) continue;
        qwen2_5_vl::preprocess_options opt;
        qwen2_5_vl::qwen_vl_utils_resize fetch;
        if (part.min_pixels) fetch.min_pixels = *part.min_pixels;
        if (part.max_pixels) fetch.max_pixels = *part.max_pixels;
        if (part.resized_height) fetch.resized_height = static_cast<int>(*part.resized_height);
        if (part.resized_width) fetch.resized_width = static_cast<int>(*part.resized_width);
        const bool limits = part.min_pixels || part.max_pixels || part.resized_height || part.resized_width;
        if (fetch_mode_ == fetch_image_mode::always || (fetch_mode_ == fetch_image_mode::when_limits_given && limits))
          opt.fetch_image = fetch;
        auto pi = qwen2_5_vl::process_image(load_message_image(part.image, base_dir_), proc_, opt);
        rows.push_back(pi.pixel_values);
        grids.push_back(pi.grids[0]);
      }
    auto text_ids = tok_.encode(tokenizer::render_chat(conv, /*add_generation_prompt=*/true));
    const std::int64_t merge2 = model_.cfg.vision.spatial_merge_size * model_.cfg.vision.spatial_merge_size;
    std::size_t image_i = 0;
    for (auto id : text_ids) {
      if (id == model_.cfg.image_token_id) {
        VLM_CHECK_AS(shape_error, image_i < grids.size(), "[infer] the prompt has more <|image_pad|> tokens than images");
        p.ids.insert(p.ids.end(), static_cast<std::size_t>(grids[image_i++].patches() / merge2), id);
      } else {
        p.ids.push_back(id);
      }
    }
    VLM_CHECK_AS(shape_error, image_i == grids.size(), "[infer] ", grids.size(), " images but ", image_i, " image placeholders");
    if (!grids.empty()) {
      p.has_images = true;
      std::int64_t total = 0;
      for (auto& r : rows) total += r.size(0);
      p.images.pixel_values = tensor<float, cpu>::empty({total, rows[0].size(1)});
      std::int64_t at = 0;
      for (auto& r : rows) {
        auto dst = p.images.pixel_values.narrow(0, at, r.size(0));
        copy_into(dst, r);
        at += r.size(0);
      }
      p.images.grids = grids;
    }
    return p;
  }

  // Generates an answer for each conversation (one left-padded batch).
  // throws: shape_error when a prompt is longer than max_model_len.
  std::vector<chat_response> respond(const std::vector<conversation>& batch, const generation_config& gen,
                                     const std::vector<std::string>& stop_strings = {},
                                     std::function<void(std::size_t, const std::string&)> on_text = {}) {
    std::vector<prepared> items;
    for (const auto& c : batch) items.push_back(prepare(c));
    std::size_t L = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto n = static_cast<std::int64_t>(items[i].ids.size());
      VLM_CHECK_AS(shape_error, n + 1 <= max_model_len_, "[infer] prompt ", i, " has ", n,
                   " tokens, past the model's context limit of ", max_model_len_,
                   " (max_model_len). Hint: lower max_pixels or shorten the text");
      L = std::max(L, items[i].ids.size());
    }
    const auto B = static_cast<std::int64_t>(items.size());
    qwen2_5_vl::model_inputs<T, cpu> in;
    in.input_ids = tensor<std::int64_t, cpu>::full({B, static_cast<std::int64_t>(L)}, gen.pad_token_id);
    in.attention_mask = tensor<std::int64_t, cpu>::zeros({B, static_cast<std::int64_t>(L)});
    std::vector<tensor<float, cpu>> pixel_parts;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& it = items[static_cast<std::size_t>(b)];
      const std::size_t pad = L - it.ids.size();
      for (std::size_t k = 0; k < it.ids.size(); ++k) {
        in.input_ids.data()[b * static_cast<std::int64_t>(L) + static_cast<std::int64_t>(pad + k)] = it.ids[k];
        in.attention_mask.data()[b * static_cast<std::int64_t>(L) + static_cast<std::int64_t>(pad + k)] = 1;
      }
      if (it.has_images) {
        pixel_parts.push_back(it.images.pixel_values);
        in.image_grids.insert(in.image_grids.end(), it.images.grids.begin(), it.images.grids.end());
      }
    }
    if (!pixel_parts.empty()) {
      std::int64_t total = 0;
      for (auto& p : pixel_parts) total += p.size(0);
      auto all = tensor<float, cpu>::empty({total, pixel_parts[0].size(1)});
      std::int64_t at = 0;
      for (auto& p : pixel_parts) {
        auto dst = all.narrow(0, at, p.size(0));
        copy_into(dst, p);
        at += p.size(0);
      }
      in.pixel_values = cast<T>(all);
    }
    generation_config g = gen;
    const std::int64_t room = max_model_len_ - static_cast<std::int64_t>(L);
    g.max_new_tokens = std::max<std::int64_t>(1, std::min(g.max_new_tokens, room));

    // Incremental detokenisation per row: for streaming and for stop strings.
    std::vector<tokenizer::stream_decoder> decoders(static_cast<std::size_t>(B), tokenizer::stream_decoder(tok_, true));
    std::vector<std::string> texts(static_cast<std::size_t>(B));
    std::vector<std::size_t> cut(static_cast<std::size_t>(B), std::string::npos);
    generation_hooks hooks;
    hooks.on_token = [&](std::size_t row, std::int64_t id) {
      if (std::find(g.stop_token_ids.begin(), g.stop_token_ids.end(), id) != g.stop_token_ids.end()) return;
      std::string piece = decoders[row].put(static_cast<std::int32_t>(id));
      texts[row] += piece;
      if (on_text && !piece.empty()) on_text(row, piece);
    };
    hooks.stop = [&](std::size_t row, const std::vector<std::int64_t>&) {
      for (const auto& s : stop_strings)
        if (auto at = texts[row].find(s); !s.empty() && at != std::string::npos) {
          cut[row] = std::min(cut[row], at);
          return true;
        }
      return false;
    };
    auto r = generate_tokens(model_, in, g, hooks);
    std::vector<chat_response> out(static_cast<std::size_t>(B));
    timings_ = {};
    timings_.vision_ms = r.vision_ms;
    timings_.prefill_ms = r.prefill_ms;
    timings_.decode_ms = r.decode_ms;
    timings_.prompt_tokens = B * static_cast<std::int64_t>(L);
    for (std::size_t b = 0; b < out.size(); ++b) {
      texts[b] += decoders[b].finish();
      if (cut[b] != std::string::npos) texts[b].resize(cut[b]);
      out[b].text = texts[b];
      out[b].token_ids = r.tokens[b];
      out[b].finish_reason = r.finish_reason[b];
      timings_.generated_tokens += static_cast<std::int64_t>(r.tokens[b].size());
    }
    return out;
  }

 private:
  Model model_;
  tokenizer::tokenizer tok_;
  qwen2_5_vl::image_processor_config proc_;
  generation_config defaults_;
  std::int64_t max_model_len_ = 0;
  std::filesystem::path base_dir_;
  fetch_image_mode fetch_mode_ = fetch_image_mode::when_limits_given;
  chat_timings timings_;
};

}  // namespace vlm::generate
