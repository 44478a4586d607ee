// vlm::tokenizer::tokenizer — a Hugging Face tokenizer.json of the byte-level BPE family
// (Qwen2 / Qwen2.5 / Qwen2.5-VL, GPT-2 style), encoding and decoding exactly as HF
// `tokenizers` does with add_special_tokens=False:
//   text -> added tokens split out (raw text) -> NFC -> regex words -> bytes -> BPE -> ids
//   ids  -> token bytes (ByteLevel decoder) -> UTF-8, ill-formed bytes -> U+FFFD
// Anything in a tokenizer.json that would change the result and that we do not implement
// (other normalizers, dropout, lstrip/rstrip tokens, ...) is refused when loading, by name.
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"
#include "vlm/tokenizer/added_tokens.hpp"
#include "vlm/tokenizer/bpe.hpp"
#include "vlm/tokenizer/byte_level.hpp"
#include "vlm/tokenizer/pre_tokenizer.hpp"
#include "vlm/tokenizer/utf8.hpp"

namespace vlm::tokenizer {

namespace detail {

using json = nlohmann::json;

// GPT-2's pattern, used by a ByteLevel pre-tokenizer with use_regex = true.
inline constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// throws: io_error naming the path when it cannot be read.
inline std::string read_file(const std::filesystem::path& path, std::string_view hint = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail<io_error>("[tokenizer] cannot open '", path.string(), "': ", std::strerror(errno), hint);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail<io_error>("[tokenizer] error reading '", path.string(), "'");
  return std::move(ss).str();
}

// throws: format_error naming `origin` and the parser's position when `text` is not JSON.
inline json parse_json(std::string_view text, std::string_view origin) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail<format_error>("[tokenizer] malformed JSON in '", origin, "': ", e.what());
  }
}

// Reads fields with messages that name the file and the JSON pointer of the field, e.g.
// "[tokenizer] 'tokenizer.json': field '/model/merges' is missing".
struct json_fields {
  std::string_view origin;

  [[noreturn]] void bad(const std::string& ptr, std::string_view what) const {
    fail<format_error>("[tokenizer] '", origin, "': field '", ptr, "' ", what);
  }
  void expect(const json& v, const std::string& ptr, json::value_t type, const char* name) const {
    const bool ok = type == json::value_t::number_integer
                        ? v.is_number_integer()
                        : v.type() == type;
    if (!ok) bad(ptr, std::string("must be ") + name + ", got " + v.type_name());
  }
  const json* find(const json& obj, const std::string& ptr, const char* key) const {
    if (!obj.is_object()) bad(ptr, std::string("must be an object, got ") + obj.type_name());
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }
  const json& at(const json& obj, const std::string& ptr, const char* key) const {
    const json* v = find(obj, ptr, key);
    if (!v) bad(ptr + "/" + key, "is missing");
    return *v;
  }
  std::string string_at(const json& obj, const std::string& ptr, const char* key) const {
    const json& v = at(obj, ptr, key);
    expect(v, ptr + "/" + key, json::value_t::string, "a string");
    return v.get<std::string>();
  }
  // Optional boolean: absent or null gives `fallback`.
  bool bool_or(const json& obj, const std::string& ptr, const char* key, bool fallback) const {
    const json* v = find(obj, ptr, key);
    if (!v || v->is_null()) return fallback;
    expect(*v, ptr + "/" + key, json::value_t::boolean, "a boolean");
    return v->get<bool>();
  }
  [[noreturn]] void unsupported(const std::string& ptr, std::string_view what) const {
    fail<config_error>("[tokenizer] '", origin, "': field '", ptr, "': ", what,
                       " is not supported (vlm implements the byte-level BPE of Qwen2 / GPT-2)");
  }
};

// Reads tokenizer.json in one pass. /model/vocab and /model/merges, nearly all of the file,
// go straight into flat arrays (a DOM would build a std::map node per token, most of the load
// time); everything else becomes a small DOM, where vocab and merges stay as empty
// placeholders. Messages match json_fields': file, JSON pointer, expected vs got.
class tokenizer_json_reader {
 public:
  explicit tokenizer_json_reader(std::string_view origin) : f_{origin} {}

  void parse(std::string_view text) { json::sax_parse(text.begin(), text.end(), this); }

  json root;
  bool has_vocab = false, has_merges = false;
  // Views into this reader: valid while it lives.
  std::vector<std::pair<std::string_view, int32_t>> vocab() const {
    std::vector<std::pair<std::string_view, int32_t>> out;
    out.reserve(vocab_.size());
    for (const auto& v : vocab_) out.emplace_back(view(v.key), v.id);
    return out;
  }
  std::vector<std::pair<std::string_view, std::string_view>> merges() const {
    std::vector<std::pair<std::string_view, std::string_view>> out;
    out.reserve(merges_.size());
    for (const auto& m : merges_) out.emplace_back(view(m.first), view(m.second));
    return out;
  }

  // ---- nlohmann SAX interface
  bool null() { return value(json(nullptr)); }
  bool boolean(bool v) { return value(json(v)); }
  bool number_integer(json::number_integer_t v) { return value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return value(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return value(json(v)); }
  bool binary(json::binary_t& v) { return value(json(v)); }
  bool string(std::string& v) {
    if (mode_ == mode::merges) {
      const size_t space = v.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == v.size() ||
          v.find(' ', space + 1) != std::string::npos)
        f_.bad(merge_ptr(), "must be two tokens separated by one space, got \"" + v + "\"");
      merges_.push_back({store(std::string_view(v).substr(0, space)),
                         store(std::string_view(v).substr(space + 1))});
      return true;
    }
    if (mode_ == mode::merge_pair) {
      if (pair_count_ == 0) pair_.first = store(v);
      else if (pair_count_ == 1) pair_.second = store(v);
      ++pair_count_;
      return true;
    }
    return value(json(std::move(v)));
  }
  bool start_object(size_t) {
    if (mode_ != mode::dom) return bad_entry("an object");
    if (at_model_field("vocab")) {
      add(json::object());
      mode_ = mode::vocab;
      has_vocab = true;
      return true;
    }
    stack_.push_back(add(json::object()));
    return true;
  }
  bool key(std::string& k) {
    if (mode_ == mode::vocab) key_ref_ = store(k);
    else key_ = std::move(k);
    return true;
  }
  bool end_object() {
    if (mode_ == mode::vocab) mode_ = mode::dom;
    else stack_.pop_back();
    return true;
  }
  bool start_array(size_t) {
    if (mode_ == mode::merges) {
      mode_ = mode::merge_pair;
      pair_count_ = 0;
      return true;
    }
    if (mode_ != mode::dom) return bad_entry("an array");
    if (at_model_field("merges")) {
      add(json::array());
      mode_ = mode::merges;
      has_merges = true;
      return true;
    }
    stack_.push_back(add(json::array()));
    return true;
  }
  bool end_array() {
    if (mode_ == mode::merge_pair) {
      if (pair_count_ != 2) f_.bad(merge_ptr(), "must be \"a b\" or [\"a\", \"b\"], got an array of " +
                                                    std::to_string(pair_count_) + " strings");
      merges_.push_back(pair_);
      mode_ = mode::merges;
    } else if (mode_ == mode::merges) {
      mode_ = mode::dom;
    } else {
      stack_.pop_back();
    }
    return true;
  }
  template <class Exception>
  bool parse_error(size_t, const std::string&, const Exception& e) {
    fail<format_error>("[tokenizer] malformed JSON in '", f_.origin, "': ", e.what());
  }

 private:
  enum class mode { dom, vocab, merges, merge_pair };
  struct ref {
    uint32_t offset, length;
  };
  struct vocab_entry {
    ref key;
    int32_t id;
  };

  ref store(std::string_view s) {
    const ref r{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(s.size())};
    arena_.append(s);
    return r;
  }
  std::string_view view(ref r) const { return std::string_view(arena_).substr(r.offset, r.length); }
  std::string merge_ptr() const { return "/model/merges/" + std::to_string(merges_.size()); }

  // True when the value about to be added is root["model"][name].
  bool at_model_field(const char* name) const {
    return stack_.size() == 2 && stack_[1] == model_ && stack_[1]->is_object() && key_ == name;
  }

  bool value(json&& v) {
    if (mode_ == mode::vocab) {
      const std::string ptr = "/model/vocab/" + std::string(view(key_ref_));
      if (!v.is_number_integer()) f_.bad(ptr, std::string("must be an integer id, got ") + v.type_name());
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id > std::numeric_limits<int32_t>::max() - 1)
        f_.bad(ptr, "must be an id in [0, 2^31 - 1), got " + std::to_string(id));
      vocab_.push_back({key_ref_, static_cast<int32_t>(id)});
      return true;
    }
    if (mode_ != mode::dom) return bad_entry(v.type_name());
    add(std::move(v));
    return true;
  }

  bool bad_entry(const char* got) {
    if (mode_ == mode::vocab)
      f_.bad("/model/vocab/" + std::string(view(key_ref_)), std::string("must be an integer id, got ") + got);
    f_.bad(merge_ptr(), std::string("must be \"a b\" or [\"a\", \"b\"], got ") + got);
  }

  // Adds `v` to the innermost open container; returns where it now lives (a std::map node or
  // the array's last element, both stable while `v` is the innermost open container).
  json* add(json&& v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& parent = *stack_.back();
    json* slot;
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      slot = &parent.back();
    } else {
      slot = &parent[key_];
      *slot = std::move(v);
      if (stack_.size() == 1 && key_ == "model") model_ = slot;
    }
    return slot;
  }

  json_fields f_;
  mode mode_ = mode::dom;
  std::vector<json*> stack_;  // open containers of the DOM part
  json* model_ = nullptr;     // root["model"], once seen
  std::string key_;           // key of the next DOM value
  ref key_ref_{};             // key of the next vocab value
  std::pair<ref, ref> pair_{};
  size_t pair_count_ = 0;
  std::string arena_;         // vocab keys and merge halves, back to back
  std::vector<vocab_entry> vocab_;
  std::vector<std::pair<ref, ref>> merges_;
};

}  // namespace detail

class tokenizer {
 public:
  // Loads a Hugging Face tokenizer.json.
  // throws: io_error (missing file, naming it); format_error (malformed JSON or field, naming
  // the file and the field); config_error (a feature we do not implement, naming the field).
  static tokenizer from_file(const std::filesystem::path& tokenizer_json) {
    const std::string text = detail::read_file(tokenizer_json);
    return from_json(text, tokenizer_json.string());
  }

  // Loads dir/tokenizer.json and dir/tokenizer_config.json (eos/pad/bos tokens,
  // model_max_length). throws: as from_file, naming whichever file is at fault.
  static tokenizer from_dir(const std::filesystem::path& dir) {
    constexpr std::string_view hint =
        ". Hint: a Hugging Face model folder has tokenizer.json and tokenizer_config.json.";
    const auto json_path = dir / "tokenizer.json";
    tokenizer t = from_json(detail::read_file(json_path, hint), json_path.string());
    const auto config_path = dir / "tokenizer_config.json";
    t.load_config(detail::read_file(config_path, hint), config_path.string());
    return t;
  }

  // Same as from_file for text already in memory; `origin` names it in messages.
  static tokenizer from_json(std::string_view json_text, std::string_view origin = "<memory>") {
    detail::tokenizer_json_reader reader(origin);
    reader.parse(json_text);
    tokenizer t;
    t.load(reader, origin);
    return t;
  }

  // Token ids of `text` (UTF-8). No BOS/EOS is added; special and added tokens written in
  // the text are recognised. Thread-safe. throws: format_error if `text` is not UTF-8.
  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 8);
    std::string storage;  // NFC output, reused across stretches
    added_.split(
        text,
        [&](std::string_view stretch) {
          std::string_view normalized = stretch;
          if (nfc_) normalized = nfc(stretch, storage);
          else check_utf8(stretch);
          splitter_.split(normalized, [&](std::string_view word) { bpe_.encode_word(word, ids); });
        },
        [&](int32_t id) { ids.push_back(id); });
    return ids;
  }

  // Text of `ids`; ill-formed UTF-8 (e.g. a character cut between tokens at the end)
  // becomes U+FFFD, one per maximal ill-formed subpart, as HF and Python's errors='replace'.
  // Ids that name no token (e.g. embedding rows past the vocabulary) are skipped, as HF does.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const {
    std::string bytes;
    for (const int32_t id : ids) bytes.append(token_bytes(id, skip_special));
    return utf8_lossy(bytes);
  }

  // The raw bytes `id` contributes to decode(): "" for ids without a token and, when
  // `skip_special`, for special tokens. The building block of stream_decoder.
  std::string_view token_bytes(int32_t id, bool skip_special = false) const {
    if (!has_token(id) || (skip_special && kind_[id] == kind::special)) return {};
    return std::string_view(bytes_).substr(bytes_offset_[id], bytes_offset_[id + 1] - bytes_offset_[id]);
  }

  // Id of a token as written in the vocabulary ("Ġthe", "<|im_end|>"), or -1 if none.
  int32_t token_to_id(std::string_view token) const {
    for (const auto& t : added_.tokens())
      if (t.content == token) return t.id;
    return bpe_.lookup(token);
  }

  // Token text of `id` as written in the vocabulary, or "" if `id` names no token.
  std::string id_to_token(int32_t id) const {
    if (!has_token(id)) return {};
    return text_.substr(text_offset_[id], text_offset_[id + 1] - text_offset_[id]);
  }

  // One past the largest id, regular and added tokens together (151665 for Qwen2.5-VL;
  // the model's embedding has more rows, 151936, which no token uses).
  size_t vocab_size() const { return kind_.size(); }

  bool is_special(int32_t id) const { return has_token(id) && kind_[id] == kind::special; }
  bool has_token(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < kind_.size() && kind_[id] != kind::none;
  }

  // From tokenizer_config.json (from_dir); -1 when not given. Qwen2.5-VL: eos <|im_end|>
  // 151645, pad <|endoftext|> 151643, no bos.
  int32_t eos_token_id() const { return eos_id_; }
  int32_t pad_token_id() const { return pad_id_; }
  int32_t bos_token_id() const { return bos_id_; }
  // Longest input the model supports; SIZE_MAX when not given (HF: "very large integer").
  size_t model_max_length() const { return model_max_length_; }

  const std::string& pre_tokenizer_pattern() const { return splitter_.pattern(); }

 private:
  enum class kind : uint8_t { none, regular, added, special };

  tokenizer() = default;

  void load(const detail::tokenizer_json_reader& reader, std::string_view origin) {
    using json = detail::json;
    const json& root = reader.root;
    const detail::json_fields f{origin};
    if (!root.is_object()) f.bad("", std::string("must be an object, got ") + root.type_name());

    // ---- model: BPE vocab + merges
    const json& model = f.at(root, "", "model");
    if (const json* type = f.find(model, "/model", "type"); type && *type != "BPE")
      f.unsupported("/model/type", "model type " + type->dump());
    if (const json* d = f.find(model, "/model", "dropout");
        d && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0))
      f.unsupported("/model/dropout", "BPE dropout " + d->dump());
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const json* v = f.find(model, "/model", key); v && !v->is_null() && *v != "")
        f.unsupported(std::string("/model/") + key, "a non-empty " + std::string(key));
    if (f.bool_or(model, "/model", "byte_fallback", false))
      f.unsupported("/model/byte_fallback", "byte_fallback");
    const bool ignore_merges = f.bool_or(model, "/model", "ignore_merges", false);

    // The reader took the entries out; what is left in the DOM only says if the field exists
    // and (when it is not an object/array) what it is instead.
    const json& vocab_json = f.at(model, "/model", "vocab");
    f.expect(vocab_json, "/model/vocab", json::value_t::object, "an object");
    const json& merges_json = f.at(model, "/model", "merges");
    f.expect(merges_json, "/model/merges", json::value_t::array, "an array");
    const auto vocab = reader.vocab();    // views into `reader`
    const auto merges = reader.merges();
    int64_t max_id = -1;
    for (const auto& [token, id] : vocab) max_id = std::max<int64_t>(max_id, id);

    // ---- normalizer: NFC or none
    const json* normalizer = f.find(root, "", "normalizer");
    if (normalizer && !normalizer->is_null()) {
      const std::string type = f.string_at(*normalizer, "/normalizer", "type");
      if (type != "NFC") f.unsupported("/normalizer/type", "normalizer \"" + type + "\"");
      nfc_ = true;
    }

    // ---- pre_tokenizer: Sequence[Split(regex, Isolated), ByteLevel(no regex)] or
    //      ByteLevel(use_regex) alone (GPT-2)
    const json& pre = f.at(root, "", "pre_tokenizer");
    std::string pattern;
    bool byte_level = false;
    auto read_step = [&](const json& step, const std::string& ptr) {
      const std::string type = f.string_at(step, ptr, "type");
      if (type == "Split") {
        if (!pattern.empty() || byte_level) f.unsupported(ptr, "a second Split, or Split after ByteLevel,");
        const json& pat = f.at(step, ptr, "pattern");
        if (!f.find(pat, ptr + "/pattern", "Regex"))
          f.unsupported(ptr + "/pattern", "a literal (non-Regex) split pattern");
        pattern = f.string_at(pat, ptr + "/pattern", "Regex");
        const std::string behavior = f.string_at(step, ptr, "behavior");
        if (behavior != "Isolated") f.unsupported(ptr + "/behavior", "Split behavior \"" + behavior + "\"");
        if (f.bool_or(step, ptr, "invert", false)) f.unsupported(ptr + "/invert", "invert = true");
      } else if (type == "ByteLevel") {
        if (f.bool_or(step, ptr, "add_prefix_space", false))
          f.unsupported(ptr + "/add_prefix_space", "add_prefix_space = true");
        if (f.bool_or(step, ptr, "use_regex", true)) {
          if (!pattern.empty()) f.unsupported(ptr + "/use_regex", "use_regex after a Split");
          pattern = detail::gpt2_pattern;
        }
        byte_level = true;
      } else {
        f.unsupported(ptr + "/type", "pre-tokenizer \"" + type + "\"");
      }
    };
    if (pre.is_object() && f.string_at(pre, "/pre_tokenizer", "type") == "Sequence") {
      const json& steps = f.at(pre, "/pre_tokenizer", "pretokenizers");
      f.expect(steps, "/pre_tokenizer/pretokenizers", json::value_t::array, "an array");
      for (size_t i = 0; i < steps.size(); ++i)
        read_step(steps[i], "/pre_tokenizer/pretokenizers/" + std::to_string(i));
    } else {
      read_step(pre, "/pre_tokenizer");
    }
    if (!byte_level) f.unsupported("/pre_tokenizer", "a pre-tokenizer without ByteLevel");
    if (pattern.empty()) f.unsupported("/pre_tokenizer", "ByteLevel without any split regex");

    // ---- decoder: ByteLevel or none (we always reverse the byte-level mapping)
    if (const json* dec = f.find(root, "", "decoder"); dec && !dec->is_null()) {
      const std::string type = f.string_at(*dec, "/decoder", "type");
      if (type != "ByteLevel") f.unsupported("/decoder/type", "decoder \"" + type + "\"");
    }

    // ---- added tokens
    std::vector<added_token> added;
    if (const json* list = f.find(root, "", "added_tokens"); list && !list->is_null()) {
      f.expect(*list, "/added_tokens", json::value_t::array, "an array");
      for (size_t i = 0; i < list->size(); ++i) {
        const json& t = (*list)[i];
        const std::string ptr = "/added_tokens/" + std::to_string(i);
        const json& id = f.at(t, ptr, "id");
        f.expect(id, ptr + "/id", json::value_t::number_integer, "an integer id");
        const int64_t v = id.get<int64_t>();
        if (v < 0 || v > std::numeric_limits<int32_t>::max() - 1)
          f.bad(ptr + "/id", "must be an id in [0, 2^31 - 1), got " + std::to_string(v));
        added_token a{f.string_at(t, ptr, "content"), static_cast<int32_t>(v),
                      f.bool_or(t, ptr, "special", false)};
        if (a.content.empty()) f.bad(ptr + "/content", "must not be empty");
        for (const char* flag : {"lstrip", "rstrip", "single_word", "normalized"})
          if (f.bool_or(t, ptr, flag, false))
            f.unsupported(ptr + "/" + flag, "added token '" + a.content + "' with " + flag + " = true");
        max_id = std::max(max_id, v);
        added.push_back(std::move(a));
      }
    }

    // ---- tables: id -> token text, kind, decode bytes
    const size_t n = static_cast<size_t>(max_id + 1);
    std::vector<std::string_view> text_of(n);
    kind_.assign(n, kind::none);
    for (const auto& [token, id] : vocab) {
      text_of[id] = token;
      kind_[id] = kind::regular;
    }
    for (const auto& a : added) {  // an added token overrides a vocab entry with its id (HF)
      text_of[a.id] = a.content;
      kind_[a.id] = a.special ? kind::special : kind::added;
    }
    text_offset_.assign(n + 1, 0);
    bytes_offset_.assign(n + 1, 0);
    text_.clear();
    bytes_.clear();
    for (size_t id = 0; id < n; ++id) {
      text_offset_[id] = static_cast<uint32_t>(text_.size());
      bytes_offset_[id] = static_cast<uint32_t>(bytes_.size());
      text_.append(text_of[id]);
      bytes_ += byte_level_to_bytes(text_of[id]);
    }
    text_offset_[n] = static_cast<uint32_t>(text_.size());
    bytes_offset_[n] = static_cast<uint32_t>(bytes_.size());

    bpe_ = bpe(vocab, merges, ignore_merges, origin);
    splitter_ = regex_splitter(pattern);
    added_ = added_token_matcher(std::move(added));
  }

  void load_config(std::string_view text, std::string_view origin) {
    using json = detail::json;
    const json root = detail::parse_json(text, origin);
    const detail::json_fields f{origin};
    if (!root.is_object()) f.bad("", std::string("must be an object, got ") + root.type_name());
    // A special token is written as "text", as {"content": "text", ...} (AddedToken), or null.
    auto token_id = [&](const char* key) -> int32_t {
      const json* v = f.find(root, "", key);
      if (!v || v->is_null()) return -1;
      const std::string ptr = std::string("/") + key;
      const std::string content = v->is_object() ? f.string_at(*v, ptr, "content")
                                                 : (f.expect(*v, ptr, json::value_t::string, "a string"),
                                                    v->get<std::string>());
      const int32_t id = token_to_id(content);
      if (id < 0)
        fail<config_error>("[tokenizer] '", origin, "': field '", ptr, "' names token '", content,
                           "', which is not in the vocabulary of tokenizer.json");
      return id;
    };
    eos_id_ = token_id("eos_token");
    pad_id_ = token_id("pad_token");
    bos_id_ = token_id("bos_token");
    if (const json* m = f.find(root, "", "model_max_length"); m && !m->is_null()) {
      if (!m->is_number()) f.bad("/model_max_length", std::string("must be a number, got ") + m->type_name());
      const double v = m->get<double>();
      if (!(v >= 0)) f.bad("/model_max_length", "must be >= 0, got " + m->dump());
      model_max_length_ = m->is_number_unsigned() ? m->get<size_t>()
                          : v >= 1.8e19 ? std::numeric_limits<size_t>::max()
                                        : static_cast<size_t>(v);
    }
  }

  bpe bpe_;
  regex_splitter splitter_;
  added_token_matcher added_;
  bool nfc_ = false;
  std::string text_;                     // token texts of all ids, back to back
  std::vector<uint32_t> text_offset_;    // id -> start in text_; [n] = end
  std::vector<kind> kind_;               // id -> what the id is
  std::string bytes_;                    // decode bytes of all ids, back to back
  std::vector<uint32_t> bytes_offset_;   // id -> start in bytes_; [n] = end
  int32_t eos_id_ = -1, pad_id_ = -1, bos_id_ = -1;
  size_t model_max_length_ = std::numeric_limits<size_t>::max();
};

}  // namespace vlm::tokenizer
