// Synthetic OCR data (vlm/data/synthetic_ocr.hpp), PNG writing (vlm/io/png_write.hpp) and the
// character-level tokenizer (vlm/data/char_tokenizer.hpp). HF `tokenizers` agreement is checked
// by tools/check_char_tokenizer.py.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <vlm/data/char_tokenizer.hpp>
#include <vlm/data/synthetic_ocr.hpp>
#include <vlm/io/image.hpp>
#include <vlm/io/png_write.hpp>
#include <vlm/tokenizer/tokenizer.hpp>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using Catch::Contains;

// Catch2 2.13 has no CHECK_THROWS_WITH_AS: check the type and the message separately.
#define CHECK_THROWS_WITH_TYPE(expr, matcher, type) \
  do {                                              \
    CHECK_THROWS_AS(expr, type);                    \
    CHECK_THROWS_WITH(expr, matcher);               \
  } while (0)

namespace {

// Code points of ocr_charset as separate UTF-8 strings.
std::vector<std::string> charset_chars(std::string_view charset) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < charset.size();) {
    std::size_t len = 1;
    while (i + len < charset.size() && (static_cast<unsigned char>(charset[i + len]) & 0xC0) == 0x80) ++len;
    out.emplace_back(charset.substr(i, len));
    i += len;
  }
  return out;
}

vlm::data::render_options clean() {
  vlm::data::render_options o;
  o.noise_probability = 0.f;
  o.blur_probability = 0.f;
  o.random_colours = false;
  return o;
}

// Pixels as a string key for std::set (a set of byte vectors trips a GCC 12 -Wstringop-overread
// false positive).
std::string key(const vlm::io::image& img) { return std::string(img.rgb.begin(), img.rgb.end()); }

std::size_t ink_pixels(const vlm::io::image& img) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < img.rgb.size(); i += 3) n += img.rgb[i] < 128;
  return n;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("render_text is deterministic for a seed and sized for the Qwen processor", "[cpu][io][data]") {
  for (std::uint64_t seed : {0ull, 1ull, 17ull, 97ull, 12345678901ull}) {
    const std::string text = vlm::data::random_ocr_text(seed);
    const auto a = vlm::data::render_text(text, seed);
    const auto b = vlm::data::render_text(text, seed);
    CHECK(a.width == b.width);
    CHECK(a.height == b.height);
    CHECK(a.rgb == b.rgb);
    CHECK(a.width % 28 == 0);
    CHECK(a.height % 28 == 0);
    CHECK(a.width >= 112);
    CHECK(a.width <= 224);
    CHECK((a.height == 28 || a.height == 56));
    CHECK(a.rgb.size() == static_cast<std::size_t>(a.width) * static_cast<std::size_t>(a.height) * 3);
    // Another seed moves, recolours or rescales the text.
    CHECK(vlm::data::render_text(text, seed + 1).rgb != a.rgb);
  }
}

TEST_CASE("different strings give different images", "[cpu][io][data]") {
  // Same length and seed -> same layout; only the glyphs differ.
  CHECK(vlm::data::render_text("AB-1234", 5).rgb != vlm::data::render_text("AB-1235", 5).rgb);
  CHECK(vlm::data::render_text("O0", 5, clean()).rgb != vlm::data::render_text("0O", 5, clean()).rgb);
  std::set<std::string> seen;
  std::set<std::string> texts;
  for (std::uint64_t i = 0; i < 60; ++i) {
    const std::string t = vlm::data::random_ocr_text(i);
    if (!texts.insert(t).second) continue;
    CHECK(seen.insert(key(vlm::data::render_text(t, 42, clean()))).second);
  }
}

TEST_CASE("every glyph of the charset draws ink, and no two glyphs are alike", "[cpu][io][data]") {
  std::set<std::string> bitmaps;
  for (const std::string& ch : charset_chars(vlm::data::ocr_charset)) {
    INFO("character '" << ch << "'");
    const auto img = vlm::data::render_text(ch, 3, clean());
    if (ch == " ") {
      CHECK(ink_pixels(img) == 0);
      continue;
    }
    CHECK(ink_pixels(img) > 0);
    CHECK(bitmaps.insert(key(img)).second);
  }
  CHECK(bitmaps.size() == charset_chars(vlm::data::ocr_charset).size() - 1);
}

TEST_CASE("render_text names the character the font lacks", "[cpu][io][data]") {
  CHECK_THROWS_WITH_TYPE(vlm::data::render_text("AB-1x4", 0), Contains("'x'") && Contains("no glyph"),
                       vlm::format_error);
  CHECK_THROWS_WITH_TYPE(vlm::data::render_text("中", 0), Contains("U+4E2D"), vlm::format_error);
  CHECK_THROWS_AS(vlm::data::render_text("", 0), vlm::format_error);
  CHECK_THROWS_WITH_TYPE(vlm::data::render_text(std::string(40, '8'), 0), Contains("does not fit"), vlm::format_error);
}

TEST_CASE("random_ocr_text gives 3-12 charset characters without stray spaces", "[cpu][io][data]") {
  const auto allowed = charset_chars(vlm::data::ocr_charset);
  const std::set<std::string> ok(allowed.begin(), allowed.end());
  std::set<std::string> distinct;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    const std::string t = vlm::data::random_ocr_text(i);
    INFO("seed " << i << ": '" << t << "'");
    CHECK(t == vlm::data::random_ocr_text(i));
    const auto chars = charset_chars(t);
    CHECK(chars.size() >= 3);
    CHECK(chars.size() <= 12);
    CHECK(chars.front() != " ");
    CHECK(chars.back() != " ");
    CHECK(t.find("  ") == std::string::npos);
    for (const auto& c : chars) CHECK(ok.count(c) == 1);
    distinct.insert(t);
  }
  CHECK(distinct.size() > 1500);
}

TEST_CASE("write_png round-trips through load_image byte for byte", "[cpu][io][data]") {
  vlm_test::temp_dir tmp;
  for (std::uint64_t seed : {0ull, 1ull, 2ull, 3ull, 4ull, 5ull}) {
    vlm::data::render_options o;
    o.noise_probability = seed % 2 ? 1.f : 0.f;  // noisy and clean images
    const auto img = vlm::data::render_text(vlm::data::random_ocr_text(seed), seed, o);
    const fs::path p = tmp / ("r" + std::to_string(seed) + ".png");
    vlm::io::write_png(p, img);
    const auto back = vlm::io::load_image(p.string());
    CHECK(back.width == img.width);
    CHECK(back.height == img.height);
    CHECK(back.rgb == img.rgb);
  }
  // Awkward sizes: 1x1, 17x3 with every byte value present.
  for (auto [w, h] : {std::pair{1, 1}, std::pair{17, 3}, std::pair{97, 5}}) {
    vlm::io::image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
    for (std::size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<std::uint8_t>(i * 37 + 11);
    const fs::path p = tmp / "odd.png";
    vlm::io::write_png(p, img);
    CHECK(vlm::io::load_image(p.string()).rgb == img.rgb);
  }
  const vlm::io::image short_image{4, 4, std::vector<std::uint8_t>(47)};
  CHECK_THROWS_WITH_TYPE(vlm::io::encode_png(short_image), Contains("48"), vlm::format_error);
  CHECK_THROWS_AS(vlm::io::encode_png(vlm::io::image{}), vlm::format_error);
}

TEST_CASE("make_ocr_dataset writes seed-shaped rows and PNGs, independent of thread count", "[cpu][io][data]") {
  vlm_test::temp_dir tmp;
  vlm::data::dataset_options one;
  one.threads = 1;
  vlm::data::dataset_options many;
  many.threads = 3;
  const auto s = vlm::data::make_ocr_dataset(tmp / "a", 7, 3, 11, one);
  vlm::data::make_ocr_dataset(tmp / "b", 7, 3, 11, many);
  CHECK(s.n_train == 7);
  CHECK(s.n_val == 3);
  CHECK(s.train_jsonl == tmp / "a" / "train.jsonl");
  for (const char* split : {"train", "val"}) {
    const auto rows = read_lines(tmp / "a" / (std::string(split) + ".jsonl"));
    CHECK(rows == read_lines(tmp / "b" / (std::string(split) + ".jsonl")));
    REQUIRE(rows.size() == (std::string(split) == "train" ? 7u : 3u));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto j = nlohmann::json::parse(rows[i]);
      CHECK(j.size() == 3);
      CHECK(j.at("query") == "请识别图片中的文字");
      char name[64];
      std::snprintf(name, sizeof name, "images/%s_%05zu.png", split, i + 1);
      CHECK(j.at("image_path") == name);
      const auto img = vlm::io::load_image((tmp / "a" / name).string());
      CHECK(img.rgb == vlm::io::load_image((tmp / "b" / name).string()).rgb);
      CHECK(img.width % 28 == 0);
      CHECK(img.height % 28 == 0);
      CHECK(img.width * img.height <= 28 * 28 * 16);
      const std::string response = j.at("response");
      CHECK(charset_chars(response).size() >= 3);
    }
  }
  // Row key order is the seed's: query, response, image_path.
  CHECK(read_lines(tmp / "a" / "train.jsonl")[0].rfind("{\"query\":", 0) == 0);
  // Another seed, other data.
  vlm::data::make_ocr_dataset(tmp / "c", 7, 0, 12, one);
  CHECK(read_lines(tmp / "c" / "train.jsonl") != read_lines(tmp / "a" / "train.jsonl"));
  CHECK_THROWS_AS(vlm::data::make_ocr_dataset(tmp / "d", -1, 0, 0), vlm::config_error);
}

TEST_CASE("char tokenizer: our tokenizer loads it; one token per character; round trips", "[cpu][io][data][tokenizer]") {
  vlm_test::temp_dir tmp;
  const std::string charset = vlm::data::ocr_tokenizer_charset();
  const std::size_t n = vlm::data::write_char_tokenizer(tmp.path, charset);
  const auto tok = vlm::tokenizer::tokenizer::from_dir(tmp.path);
  CHECK(n == tok.vocab_size());
  CHECK(tok.vocab_size() == 296);  // 256 bytes + 18 merges (¥ and the 9 prompt characters) + 22 added
  CHECK(tok.vocab_size() == vlm::tokenizer::tokenizer::from_json(vlm::data::make_char_tokenizer_json(charset)).vocab_size());
  CHECK(tok.id_to_token(0) == "!");  // Qwen2's byte order
  CHECK(tok.id_to_token(255) == "\u0143");  // 'Ń', the stand-in of byte 0xAD

  // Every character of the charset (and each digit) is exactly one token.
  for (const std::string& ch : charset_chars(charset)) {
    INFO("character '" << ch << "'");
    const auto ids = tok.encode(ch);
    CHECK(ids.size() == 1);
    CHECK(tok.decode(ids) == ch);
  }
  const auto digits = tok.encode("20240315");
  CHECK(digits.size() == 8);

  // decode(encode(s)) == s for data-set strings, with one id per character.
  for (std::uint64_t i = 0; i < 500; ++i) {
    const std::string s = vlm::data::random_ocr_text(i);
    const auto ids = tok.encode(s);
    INFO("'" << s << "'");
    CHECK(tok.decode(ids) == s);
    CHECK(ids.size() == charset_chars(s).size());
  }
  // Characters outside the charset still round-trip (as several byte tokens).
  for (std::string s : {"發票 No.7 ok?", "emoji 😀 and tab\there\n", "  leading and trailing  "})
    CHECK(tok.decode(tok.encode(s)) == s);

  // The special and added tokens of the chat template are single ids, in Qwen's order.
  std::int32_t expect = 274;
  for (const auto& [content, special] : vlm::data::qwen2_5_vl_added_tokens) {
    INFO(content);
    const auto ids = tok.encode(content);
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] == expect++);
    CHECK(tok.token_to_id(content) == ids[0]);
    CHECK(tok.is_special(ids[0]) == special);
  }
  CHECK(tok.eos_token_id() == tok.token_to_id("<|im_end|>"));
  CHECK(tok.pad_token_id() == tok.token_to_id("<|endoftext|>"));
  CHECK(tok.bos_token_id() == -1);
  CHECK(tok.model_max_length() == 4096);
  CHECK(tok.token_to_id("<|video_pad|>") == tok.token_to_id("<|image_pad|>") + 1);  // init-model relies on it
  CHECK(tok.token_to_id("<|vision_pad|>") == tok.token_to_id("<|vision_end|>") + 1);

  // A whole seed-style SFT sequence.
  const std::string prompt =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
      "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>请识别图片中的文字<|im_end|>\n"
      "<|im_start|>assistant\n¥476.0<|im_end|>\n";
  const auto ids = tok.encode(prompt);
  CHECK(tok.decode(ids) == prompt);
  CHECK(tok.decode(ids, true).find("<|") == std::string::npos);
}

TEST_CASE("char tokenizer files: Qwen2.5-VL chat template, config and vocab", "[cpu][io][data][tokenizer]") {
  vlm_test::temp_dir tmp;
  vlm::data::write_char_tokenizer(tmp.path, vlm::data::ocr_tokenizer_charset());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.json", "vocab.json", "merges.txt",
                        "added_tokens.json"})
    CHECK(fs::exists(tmp / f));
  const auto cfg = nlohmann::json::parse(vlm_test::read_bytes(tmp / "tokenizer_config.json"));
  const auto qwen = nlohmann::json::parse(vlm_test::read_bytes(fs::path(VLM_TEST_DATA_DIR) / "tokenizer" / "tokenizer_config.json"));
  CHECK(cfg.at("chat_template") == qwen.at("chat_template"));
  CHECK(cfg.at("chat_template") == nlohmann::json::parse(vlm_test::read_bytes(tmp / "chat_template.json")).at("chat_template"));
  CHECK(cfg.at("eos_token") == "<|im_end|>");
  CHECK(cfg.at("pad_token") == "<|endoftext|>");
  CHECK(cfg.at("additional_special_tokens") == qwen.at("additional_special_tokens"));
  // Same pipeline settings as Qwen2's tokenizer.json.
  const auto tj = nlohmann::json::parse(vlm_test::read_bytes(tmp / "tokenizer.json"));
  const auto qj = nlohmann::json::parse(vlm_test::read_bytes(fs::path(VLM_TEST_DATA_DIR) / "tokenizer" / "tokenizer.json"));
  for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) CHECK(tj.at(key) == qj.at(key));
  CHECK(tj.at("model").at("vocab").size() == 274);
  // The 256 byte symbols have Qwen2's ids.
  for (const auto& [token, id] : tj.at("model").at("vocab").items())
    if (id.get<int>() < 256) CHECK(qj.at("model").at("vocab").at(token) == id);
  CHECK(tj.at("model").at("merges").size() == 18);
  CHECK(nlohmann::json::parse(vlm_test::read_bytes(tmp / "vocab.json")).size() == 274);
  CHECK(nlohmann::json::parse(vlm_test::read_bytes(tmp / "added_tokens.json")).at("<|image_pad|>") == 286);
  CHECK_THROWS_WITH_TYPE(vlm::data::make_char_tokenizer_json("ab\xE8\xAF"), Contains("not valid UTF-8"),
                       vlm::format_error);
}
