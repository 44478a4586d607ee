// A character-level tokenizer for tiny models, as Hugging Face files that both
// vlm::tokenizer::tokenizer and HF `tokenizers` load: Qwen2's byte-level BPE pipeline (NFC,
// the Qwen2 Split regex + ByteLevel, ByteLevel decoder) with a vocabulary of only the 256 byte
// symbols plus merges that build each multi-byte character of a charset into one token, then
// the 22 Qwen2.5-VL added tokens in Qwen's order. ASCII is one token per character anyway;
// digits stay one token each (the regex isolates \p{N}). For ocr_charset + the seed prompt
// the vocabulary has 256 + 18 merges + 22 added = 296 ids instead of 151,665.
// Worked example: '¥' = C2 A5 -> byte symbols "Â", "¥" -> merge "Â ¥" gives token "Â¥";
// '请' = E8 AF B7 -> "è", "¯", "·" -> merges "è ¯" then "è¯ ·" (a shared prefix such as
// "è¯" (also in '识') is merged once).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"
#include "vlm/io/atomic_file.hpp"            // defines: atomic_write
#include "vlm/metrics/unicode_text.hpp"      // defines: utf8_to_code_points, code_points_to_utf8
#include "vlm/tokenizer/byte_level.hpp"      // defines: byte_to_unicode, append_utf8, bytes_to_byte_level
#include "vlm/tokenizer/pre_tokenizer.hpp"   // defines: regex_splitter

namespace vlm::data {

// Qwen2.5-VL's chat template, character for character as in Qwen/Qwen2.5-VL-*-Instruct's
// chat_template.json (and transformers' processor tests).
inline constexpr std::string_view qwen2_5_vl_chat_template =
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

// The Qwen2 pre-tokenizer regex (tokenizer.json /pre_tokenizer/pretokenizers/0/pattern/Regex).
inline constexpr std::string_view qwen2_split_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Qwen2.5-VL's added tokens in id order (151643...151664 there; right after the merges here),
// and whether each is special.
inline constexpr std::array<std::pair<std::string_view, bool>, 22> qwen2_5_vl_added_tokens{{
    {"<|endoftext|>", true},      {"<|im_start|>", true},   {"<|im_end|>", true},
    {"<|object_ref_start|>", true}, {"<|object_ref_end|>", true}, {"<|box_start|>", true},
    {"<|box_end|>", true},        {"<|quad_start|>", true}, {"<|quad_end|>", true},
    {"<|vision_start|>", true},   {"<|vision_end|>", true}, {"<|vision_pad|>", true},
    {"<|image_pad|>", true},      {"<|video_pad|>", true},  {"<tool_call>", false},
    {"</tool_call>", false},      {"<|fim_prefix|>", false}, {"<|fim_middle|>", false},
    {"<|fim_suffix|>", false},    {"<|fim_pad|>", false},   {"<|repo_name|>", false},
    {"<|file_sep|>", false},
}};

// The vocabulary and merges of a char tokenizer (the BPE part, without added tokens).
struct char_vocab {
  std::vector<std::string> tokens;                              // id -> byte-level token text
  std::vector<std::pair<std::string, std::string>> merges;      // rank order
  std::int32_t first_added_id() const { return static_cast<std::int32_t>(tokens.size()); }
};

// Phrases the chat template and the seed's prompts repeat in every sample; make_char_vocab
// makes each of their pre-tokenizer words one token, so that the tiny model's sequences hold
// ~35 tokens instead of ~75 (the default system prompt alone is 28 characters). Responses are
// still one token per character: these words hold no character of ocr_charset() except
// '请识别图片中的文字', whose '请' is not in it, so no merge chain starts inside a response.
inline const std::vector<std::string>& chat_phrases() {
  static const std::vector<std::string> p{
      "system", "user", "assistant", "You are a helpful assistant.", "请识别图片中的文字",
      // the seed's GRPO instruction (MyDataPreprocessor) and its answer tags
      " Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags."};
  return p;
}

// Builds the byte symbols (ids 0-255, in GPT-2 bytes_to_unicode order: "!" is 0, as in Qwen2),
// one merge chain per multi-byte character of `charset` (UTF-8; duplicates and ASCII need
// nothing), then one left-to-right chain of character merges per pre-tokenizer word of
// `phrases` (Qwen2's split regex), so that each such word is one token. Merge rank r creates
// id 256 + r.
//   throws: format_error when `charset` or a phrase is not valid UTF-8.
inline char_vocab make_char_vocab(std::string_view charset, const std::vector<std::string>& phrases = chat_phrases()) {
  char_vocab v;
  // bytes_to_unicode's order is that of the stand-in code points (printable bytes keep
  // theirs, < 256; the other 68 get 256, 257, ...).
  std::array<int, 256> by_code{};
  for (int b = 0; b < 256; ++b) by_code[static_cast<std::size_t>(b)] = b;
  std::sort(by_code.begin(), by_code.end(), [](int a, int b) {
    return tokenizer::byte_to_unicode[static_cast<std::size_t>(a)] < tokenizer::byte_to_unicode[static_cast<std::size_t>(b)];
  });
  for (int b : by_code) {
    std::string s;
    tokenizer::append_utf8(s, tokenizer::byte_to_unicode[static_cast<std::size_t>(b)]);
    v.tokens.push_back(std::move(s));
  }
  std::unordered_set<std::string> known(v.tokens.begin(), v.tokens.end());
  for (std::size_t i = 0; i < charset.size();) {
    const auto lead = static_cast<unsigned char>(charset[i]);
    const std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    VLM_CHECK_AS(format_error, len != 0 && i + len <= charset.size(), "[char_tokenizer] charset is not valid UTF-8 at byte ", i);
    for (std::size_t k = 1; k < len; ++k)
      VLM_CHECK_AS(format_error, (static_cast<unsigned char>(charset[i + k]) & 0xC0) == 0x80,
                   "[char_tokenizer] charset is not valid UTF-8 at byte ", i + k);
    std::string prefix = tokenizer::bytes_to_byte_level(charset.substr(i, 1));
    for (std::size_t k = 1; k < len; ++k) {
      const std::string next = tokenizer::bytes_to_byte_level(charset.substr(i + k, 1));
      std::string merged = prefix + next;
      if (known.insert(merged).second) {
        v.merges.emplace_back(prefix, next);
        v.tokens.push_back(merged);
      }
      prefix = std::move(merged);
    }
    i += len;
  }
  // Word chains: characters first (their merges were added above or are single bytes).
  const tokenizer::regex_splitter split{qwen2_split_regex};
  for (const std::string& phrase : phrases) {
    split.split(phrase, [&](std::string_view word) {
      const std::u32string cps = metrics::utf8_to_code_points(word);
      std::string prefix;
      for (std::size_t k = 0; k < cps.size(); ++k) {
        const std::string ch = tokenizer::bytes_to_byte_level(metrics::code_points_to_utf8(std::u32string(1, cps[k])));
        VLM_CHECK_AS(format_error, known.count(ch), "[char_tokenizer] phrase character of '", std::string(word),
                     "' is not in the charset");
        if (k == 0) {
          prefix = ch;
          continue;
        }
        std::string merged = prefix + ch;
        if (known.insert(merged).second) {
          v.merges.emplace_back(prefix, ch);
          v.tokens.push_back(merged);
        }
        prefix = std::move(merged);
      }
    });
  }
  return v;
}

// tokenizer.json text (Hugging Face `tokenizers` format, Qwen2's structure) for `charset`.
//   throws: format_error when `charset` is not valid UTF-8.
inline std::string make_char_tokenizer_json(std::string_view charset) {
  using ojson = nlohmann::ordered_json;
  const char_vocab v = make_char_vocab(charset);
  ojson added = ojson::array();
  std::int32_t id = v.first_added_id();
  for (const auto& [content, special] : qwen2_5_vl_added_tokens)
    added.push_back({{"id", id++}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", special}});
  const ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  ojson vocab = ojson::object();
  for (std::size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = static_cast<std::int32_t>(i);
  ojson merges = ojson::array();
  for (const auto& [a, b] : v.merges) merges.push_back(a + " " + b);
  ojson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = std::move(added);
  root["normalizer"] = {{"type", "NFC"}};
  root["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", ojson::array({ojson{{"type", "Split"},
                                            {"pattern", {{"Regex", qwen2_split_regex}}},
                                            {"behavior", "Isolated"},
                                            {"invert", false}},
                                      byte_level})}};
  root["post_processor"] = byte_level;
  root["decoder"] = byte_level;
  root["model"] = {{"type", "BPE"},          {"dropout", nullptr},     {"unk_token", nullptr},
                   {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""}, {"fuse_unk", false},
                   {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", std::move(vocab)},
                   {"merges", std::move(merges)}};
  return root.dump();
}

// tokenizer_config.json text (Qwen2TokenizerFast; eos <|im_end|>, pad <|endoftext|>, no bos,
// the Qwen2.5-VL chat template) for the tokenizer made from `charset`.
inline std::string make_char_tokenizer_config_json(std::string_view charset, std::size_t model_max_length = 4096) {
  using ojson = nlohmann::ordered_json;
  std::int32_t id = make_char_vocab(charset).first_added_id();
  ojson decoder = ojson::object();
  ojson additional = ojson::array();
  for (const auto& [content, special] : qwen2_5_vl_added_tokens) {
    decoder[std::to_string(id++)] = {{"content", content}, {"lstrip", false}, {"normalized", false},
                                     {"rstrip", false}, {"single_word", false}, {"special", special}};
    if (special && content != "<|endoftext|>") additional.push_back(content);
  }
  ojson root;
  root["add_bos_token"] = false;
  root["add_prefix_space"] = false;
  root["added_tokens_decoder"] = std::move(decoder);
  root["additional_special_tokens"] = std::move(additional);
  root["bos_token"] = nullptr;
  root["chat_template"] = qwen2_5_vl_chat_template;
  root["clean_up_tokenization_spaces"] = false;
  root["eos_token"] = "<|im_end|>";
  root["errors"] = "replace";
  root["model_max_length"] = model_max_length;
  root["pad_token"] = "<|endoftext|>";
  root["split_special_tokens"] = false;
  root["tokenizer_class"] = "Qwen2Tokenizer";
  root["unk_token"] = nullptr;
  return root.dump(2);
}

// Writes tokenizer.json, tokenizer_config.json, chat_template.json, vocab.json, merges.txt and
// added_tokens.json (the file set of a Qwen2.5-VL checkpoint) into `dir`, atomically each.
// Returns the vocabulary size (regular + added tokens).
//   requires: `dir` exists.
//   throws:   format_error for a charset that is not UTF-8; io_error when a file cannot be written.
inline std::size_t write_char_tokenizer(const std::filesystem::path& dir, std::string_view charset,
                                        std::size_t model_max_length = 4096) {
  auto put = [&](const char* name, const std::string& text) {
    io::atomic_write(dir / name, [&](std::ostream& os) { os << text << (text.empty() || text.back() != '\n' ? "\n" : ""); });
  };
  const char_vocab v = make_char_vocab(charset);
  put("tokenizer.json", make_char_tokenizer_json(charset));
  put("tokenizer_config.json", make_char_tokenizer_config_json(charset, model_max_length));
  put("chat_template.json", nlohmann::ordered_json{{"chat_template", qwen2_5_vl_chat_template}}.dump(2));
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object(), added = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  std::int32_t id = v.first_added_id();
  for (const auto& t : qwen2_5_vl_added_tokens) added[std::string(t.first)] = id++;
  put("vocab.json", vocab.dump());
  std::string merges;
  for (const auto& [a, b] : v.merges) merges += a + " " + b + "\n";
  put("merges.txt", merges);
  put("added_tokens.json", added.dump(2));
  return static_cast<std::size_t>(id);
}

}  // namespace vlm::data
