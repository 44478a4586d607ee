// SFT data (ms-swift semantics, spec 2.1-2.4): jsonl rows -> token ids, labels, images.
// Row shapes: {"query", "response", "image_path" | "images", "system"?} (the seed's OCR rows;
// unlike ms-swift we do not drop image_path) and {"messages": [...], "images": [...]} with
// <image> tags. Rendering is the Qwen2.5-VL chat template; labels are -100 everywhere except
// the last assistant reply and its <|im_end|> (the trailing "\n" stays in the sequence with
// -100, as transformers' golden training case has it). Image pads are expanded from the image
// grids. Sequences longer than max_length: truncation "delete" (the row is rejected with an
// error naming it; the loader skips it with a warning when asked), "left" or "right" (drop text
// tokens, keep every image token, labels[0] = -100).
#pragma once
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "vlm/generate/chat.hpp"

namespace vlm::train {

struct sft_example {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> labels;  // same length, -100 = no loss
  qwen2_5_vl::processed_images images;
  bool has_images = false;
  std::string source;  // "file:line" for messages
};

struct sft_row {
  generate::conversation prompt;  // system/user turns (and earlier rounds)
  std::string response;           // the assistant reply that is learned
  std::string source;
};

inline const std::vector<std::string>& known_columns() {
  static const std::vector<std::string> k{"query", "response", "image_path", "images", "image", "messages", "system",
                                          "solution", "history"};
  return k;
}

// Parses one jsonl row. throws: format_error naming `where` (file:line) and the field.
inline sft_row parse_sft_row(const nlohmann::json& row, const std::string& where, const std::string& default_system) {
  using tokenizer::content_part;
  if (!row.is_object()) fail<format_error>("[dataset] ", where, ": expected a JSON object");
  sft_row r;
  r.source = where;
  std::vector<std::string> images;
  for (const char* key : {"images", "image"})
    if (auto it = row.find(key); it != row.end()) {
      if (it->is_string()) images.push_back(it->get<std::string>());
      else if (it->is_array())
        for (auto& im : *it) images.push_back(im.is_string() ? im.get<std::string>() : im.value("path", std::string()));
      else fail<format_error>("[dataset] ", where, ": '", key, "' must be a path or a list of paths");
    }
  if (auto it = row.find("image_path"); it != row.end()) {
    if (!it->is_string()) fail<format_error>("[dataset] ", where, ": 'image_path' must be a string");
    images.push_back(it->get<std::string>());
  }
  if (row.contains("messages")) {
    auto msgs = row["messages"];
    if (!msgs.is_array() || msgs.empty() || msgs.back().value("role", "") != "assistant")
      fail<format_error>("[dataset] ", where, ": 'messages' must end with an assistant message");
    r.response = msgs.back().value("content", std::string());
    msgs.erase(msgs.end() - 1);
    r.prompt = tokenizer::parse_messages(msgs, where);
    std::size_t next = 0;
    for (auto& m : r.prompt) {
      std::vector<content_part> parts;
      for (auto& p : m.parts) {
        if (p.type != content_part::kind::text) { parts.push_back(p); continue; }
        std::string t = p.text;
        for (std::size_t at; (at = t.find("<image>")) != std::string::npos && next < images.size();) {
          if (at) parts.push_back({content_part::kind::text, t.substr(0, at), {}, {}, {}, {}, {}});
          parts.push_back({content_part::kind::image, {}, images[next++], {}, {}, {}, {}});
          t = t.substr(at + 7);
        }
        if (!t.empty()) parts.push_back({content_part::kind::text, t, {}, {}, {}, {}, {}});
      }
      m.parts = parts;
    }
    // ms-swift prepends missing <image> tags to the first non-system message.
    for (auto& m : r.prompt)
      if (m.role != "system") {
        std::vector<content_part> front;
        for (; next < images.size(); ++next) front.push_back({content_part::kind::image, {}, images[next], {}, {}, {}, {}});
        m.parts.insert(m.parts.begin(), front.begin(), front.end());
        break;
      }
    return r;
  }
  if (!row.contains("query") || !row["query"].is_string())
    fail<format_error>("[dataset] ", where, ": expected a 'query' string (or 'messages')");
  if (!row.contains("response") || !row["response"].is_string())
    fail<format_error>("[dataset] ", where, ": expected a 'response' string");
  std::string system = row.value("system", default_system);
  if (!system.empty()) r.prompt.push_back({"system", {{content_part::kind::text, system, {}, {}, {}, {}, {}}}});
  tokenizer::chat_message user{"user", {}};
  for (auto& im : images) user.parts.push_back({content_part::kind::image, {}, im, {}, {}, {}, {}});
  user.parts.push_back({content_part::kind::text, row["query"].get<std::string>(), {}, {}, {}, {}, {}});
  r.prompt.push_back(user);
  r.response = row["response"].get<std::string>();
  return r;
}

// Makes the relative image paths of `conv` that name a file next to the jsonl absolute, so
// that a training set and a validation set in different folders each find their own images
// (make-ocr-data writes "images/Train_000001.png" relative to its jsonl). Paths that do not
// exist there stay as they are (relative to the working directory, as ms-swift reads them).
inline void resolve_image_paths(generate::conversation& conv, const std::filesystem::path& jsonl_dir) {
  namespace fs = std::filesystem;
  for (auto& m : conv)
    for (auto& p : m.parts) {
      if (p.type != tokenizer::content_part::kind::image || p.image.empty() || p.image.rfind("data:", 0) == 0 ||
          p.image.find("://") != std::string::npos)
        continue;
      const fs::path rel(p.image);
      std::error_code ec;
      if (rel.is_relative() && fs::exists(jsonl_dir / rel, ec)) p.image = fs::absolute(jsonl_dir / rel, ec).lexically_normal().string();
    }
}

// Reads a jsonl file; unknown columns give one warning each. Relative image paths are
// resolved as resolve_image_paths says. Bad lines throw, or are skipped
// with a warning when skip_bad_rows.
inline std::vector<sft_row> read_sft_jsonl(const std::filesystem::path& path, const std::string& default_system,
                                           bool skip_bad_rows = false, std::ostream* warn = &std::cerr) {
  std::ifstream in(path);
  if (!in) fail<io_error>("[dataset] cannot open '", path.string(), "'");
  std::vector<sft_row> rows;
  std::vector<std::string> warned;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(n);
    try {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        fail<format_error>("[dataset] ", where, ": not valid JSON (", e.what(), ")");
      }
      if (j.is_object())
        for (auto it = j.begin(); it != j.end(); ++it)
          if (std::find(known_columns().begin(), known_columns().end(), it.key()) == known_columns().end() &&
              std::find(warned.begin(), warned.end(), it.key()) == warned.end()) {
            warned.push_back(it.key());
            if (warn) *warn << "[dataset] warning: column '" << it.key() << "' in " << path.string() << " is not used\n";
          }
      rows.push_back(parse_sft_row(j, where, default_system));
      resolve_image_paths(rows.back().prompt, path.parent_path());
    } catch (const vlm::error& e) {
      if (!skip_bad_rows) throw;
      if (warn) *warn << "[dataset] warning: skipping " << e.what() << "\n";
    }
  }
  return rows;
}

struct encode_options {
  std::int64_t max_length = 2048;
  std::string truncation_strategy = "delete";  // delete | left | right
};

// Tokenizes one row for training: prompt (rendered with the generation prompt) + reply +
// <|im_end|> + "\n"; images preprocessed with the pipeline's processor settings.
template <class Pipeline>
sft_example encode_sft(const Pipeline& pipe, const sft_row& row, const encode_options& opt) {
  sft_example ex;
  ex.source = row.source;
  auto p = pipe.prepare(row.prompt);  // ids incl. "<|im_start|>assistant\n", pads expanded
  const auto& tok = pipe.tok();
  auto reply = tok.encode(row.response);
  const std::int64_t im_end = tok.token_to_id("<|im_end|>");
  auto newline = tok.encode("\n");
  ex.ids = p.ids;
  ex.labels.assign(p.ids.size(), ignore_index);
  for (auto id : reply) {
    ex.ids.push_back(id);
    ex.labels.push_back(id);
  }
  ex.ids.push_back(im_end);
  ex.labels.push_back(im_end);
  for (auto id : newline) {
    ex.ids.push_back(id);
    ex.labels.push_back(ignore_index);
  }
  ex.images = p.images;
  ex.has_images = p.has_images;
  const auto L = static_cast<std::int64_t>(ex.ids.size());
  if (L > opt.max_length) {
    if (opt.truncation_strategy == "delete")
      fail<shape_error>("[dataset] ", row.source, ": ", L, " tokens after image expansion exceed max_length ", opt.max_length);
    const std::int64_t image_id = pipe.model().cfg.image_token_id;
    std::int64_t excess = L - opt.max_length;
    std::vector<std::int64_t> ids, labels;
    auto keep = [&](std::size_t i) {
      if (excess > 0 && ex.ids[i] != image_id) {
        --excess;
        return false;
      }
      return true;
    };
    if (opt.truncation_strategy == "left") {
      for (std::size_t i = 0; i < ex.ids.size(); ++i)
        if (keep(i)) { ids.push_back(ex.ids[i]); labels.push_back(ex.labels[i]); }
    } else if (opt.truncation_strategy == "right") {
      for (std::size_t i = ex.ids.size(); i-- > 0;)
        if (keep(i)) { ids.insert(ids.begin(), ex.ids[i]); labels.insert(labels.begin(), ex.labels[i]); }
    } else {
      fail<config_error>("[truncation_strategy] '", opt.truncation_strategy, "' unsupported (delete, left, right)");
    }
    if (!labels.empty()) labels[0] = ignore_index;
    ex.ids = std::move(ids);
    ex.labels = std::move(labels);
  }
  return ex;
}

// A right-padded batch (training pads on the right: pad id, mask 0, label -100).
template <class T>
struct sft_batch {
  qwen2_5_vl::model_inputs<T, cpu> inputs;
  tensor<std::int64_t, cpu> shifted_labels;  // [B*L]: labels shifted left by one, -100 appended
  std::int64_t label_tokens = 0;             // labelled positions after the shift
};

template <class T>
sft_batch<T> collate(const std::vector<const sft_example*>& items, std::int64_t pad_id) {
  std::size_t L = 0;
  for (auto* e : items) L = std::max(L, e->ids.size());
  const auto B = static_cast<std::int64_t>(items.size()), Ls = static_cast<std::int64_t>(L);
  sft_batch<T> b;
  b.inputs.input_ids = tensor<std::int64_t, cpu>::full({B, Ls}, pad_id);
  b.inputs.attention_mask = tensor<std::int64_t, cpu>::zeros({B, Ls});
  b.shifted_labels = tensor<std::int64_t, cpu>::full({B * Ls}, ignore_index);
  std::vector<float> pixels;
  std::int64_t cols = 0;
  for (std::int64_t i = 0; i < B; ++i) {
    const auto& e = *items[static_cast<std::size_t>(i)];
    for (std::size_t k = 0; k < e.ids.size(); ++k) {
      b.inputs.input_ids.data()[i * Ls + static_cast<std::int64_t>(k)] = e.ids[k];
      b.inputs.attention_mask.data()[i * Ls + static_cast<std::int64_t>(k)] = 1;
      if (k > 0 && e.labels[k] != ignore_index) {
        b.shifted_labels.data()[i * Ls + static_cast<std::int64_t>(k) - 1] = e.labels[k];
        ++b.label_tokens;
      }
    }
    if (e.has_images) {
      auto v = e.images.pixel_values.to_vector();
      pixels.insert(pixels.end(), v.begin(), v.end());
      cols = e.images.pixel_values.size(1);
      b.inputs.image_grids.insert(b.inputs.image_grids.end(), e.images.grids.begin(), e.images.grids.end());
    }
  }
  if (!pixels.empty())
    b.inputs.pixel_values = cast<T>(tensor<float, cpu>::from_host({static_cast<std::int64_t>(pixels.size()) / cols, cols}, pixels));
  return b;
}

}  // namespace vlm::train
