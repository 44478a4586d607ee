// Qwen2.5-VL's chat template (chat_template.json), rendered natively, and the message JSON the
// seed uses: [{"role": ..., "content": "text" | [{"type": "image", "image": PATH|data-URL,
// "min_pixels": N, "max_pixels": N}, {"type": "text", "text": ...}]}].
// Rules (spec 6): a first message that is not "system" gets the default system block; each
// message is <|im_start|>{role}\n{content}<|im_end|>\n; an image part (type "image" or a key
// "image"/"image_url") renders <|vision_start|><|image_pad|><|vision_end|> (prefixed
// "Picture n: " with add_vision_id), a video part <|vision_start|><|video_pad|><|vision_end|>,
// a part with "text" its text, parts concatenated without separators; add_generation_prompt
// appends <|im_start|>assistant\n.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm::tokenizer {

struct content_part {
  enum class kind { text, image, video };
  kind type = kind::text;
  std::string text;   // text parts
  std::string image;  // image parts: a path, a file:// URL or a data: URL
  std::optional<std::int64_t> min_pixels, max_pixels, resized_height, resized_width;
};

struct chat_message {
  std::string role;
  std::vector<content_part> parts;  // a string content becomes one text part
};

inline constexpr const char* default_system_prompt = "You are a helpful assistant.";

namespace detail {
inline std::optional<std::int64_t> optional_int(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() && !(it->is_number() && it->get<double>() == static_cast<double>(it->get<std::int64_t>())))
    fail<format_error>("[messages] ", where, "/", key, ": expected an integer, got ", it->dump());
  return it->get<std::int64_t>();
}
inline std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) fail<format_error>("[messages] ", where, ": expected a string field '", key, "'");
  return it->get<std::string>();
}
}  // namespace detail

// Parses the seed's message list. throws: format_error naming the JSON pointer of the problem.
inline std::vector<chat_message> parse_messages(const nlohmann::json& j, const std::string& origin = "messages") {
  if (!j.is_array()) fail<format_error>("[messages] ", origin, ": expected a JSON array of messages, got ", j.type_name());
  std::vector<chat_message> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string where = origin + ":/" + std::to_string(i);
    const auto& m = j[i];
    if (!m.is_object()) fail<format_error>("[messages] ", where, ": expected an object with role and content");
    chat_message msg;
    msg.role = detail::string_field(m, "role", where);
    auto c = m.find("content");
    if (c == m.end()) fail<format_error>("[messages] ", where, ": missing 'content'");
    if (c->is_string()) {
      msg.parts.push_back({content_part::kind::text, c->get<std::string>(), {}, {}, {}, {}, {}});
    } else if (c->is_array()) {
      for (std::size_t k = 0; k < c->size(); ++k) {
        const std::string pw = where + "/content/" + std::to_string(k);
        const auto& p = (*c)[k];
        if (!p.is_object()) fail<format_error>("[messages] ", pw, ": expected an object");
        content_part part;
        const std::string type = p.value("type", std::string());
        if (type == "image" || p.contains("image") || p.contains("image_url")) {
          part.type = content_part::kind::image;
          if (p.contains("image")) part.image = detail::string_field(p, "image", pw);
          else if (p["image_url"].is_object()) part.image = detail::string_field(p["image_url"], "url", pw + "/image_url");
          else part.image = detail::string_field(p, "image_url", pw);
          part.min_pixels = detail::optional_int(p, "min_pixels", pw);
          part.max_pixels = detail::optional_int(p, "max_pixels", pw);
          part.resized_height = detail::optional_int(p, "resized_height", pw);
          part.resized_width = detail::optional_int(p, "resized_width", pw);
        } else if (type == "video" || p.contains("video")) {
          part.type = content_part::kind::video;
        } else if (p.contains("text")) {
          part.text = detail::string_field(p, "text", pw);
        } else {
          fail<format_error>("[messages] ", pw, ": a content part needs type image, video or text");
        }
        msg.parts.push_back(std::move(part));
      }
    } else {
      fail<format_error>("[messages] ", where, "/content: expected a string or a list of parts, got ", c->type_name());
    }
    out.push_back(std::move(msg));
  }
  return out;
}

inline std::string render_chat(const std::vector<chat_message>& messages, bool add_generation_prompt,
                               bool add_vision_id = false) {
  std::string s;
  int images = 0, videos = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (i == 0 && m.role != "system") s += std::string("<|im_start|>system\n") + default_system_prompt + "<|im_end|>\n";
    s += "<|im_start|>" + m.role + "\n";
    for (const auto& p : m.parts) {
      switch (p.type) {
        case content_part::kind::image:
          if (add_vision_id) s += "Picture " + std::to_string(++images) + ": ";
          s += "<|vision_start|><|image_pad|><|vision_end|>";
          break;
        case content_part::kind::video:
          if (add_vision_id) s += "Video " + std::to_string(++videos) + ": ";
          s += "<|vision_start|><|video_pad|><|vision_end|>";
          break;
        case content_part::kind::text:
          s += p.text;
          break;
      }
    }
    s += "<|im_end|>\n";
  }
  if (add_generation_prompt) s += "<|im_start|>assistant\n";
  return s;
}

}  // namespace vlm::tokenizer
