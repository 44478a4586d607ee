// Synthetic OCR data (vlm/data/synthetic_ocr.hpp, ocr_text.hpp, label_file.hpp), TrueType
// rendering (vlm/io/truetype_font.hpp), PNG writing (vlm/io/png_write.hpp) and the
// character-level tokenizer (vlm/data/char_tokenizer.hpp). HF `tokenizers` agreement is checked
// by tools/check_char_tokenizer.py.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <vlm/data/char_tokenizer.hpp>
#include <vlm/data/synthetic_ocr.hpp>
#include <vlm/io/image.hpp>
#include <vlm/io/png_write.hpp>
#include <vlm/io/truetype_font.hpp>
#include <vlm/data/label_file.hpp>
#include <vlm/tokenizer/tokenizer.hpp>

#include "../common/checks.hpp"  // defines: VLM_CHECK_THROWS_WITH_AS
#include "io_test_util.hpp"

namespace fs = std::filesystem;
using Catch::Contains;


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
  o.jitter = 0;
  return o;
}

// The font every test draws with: Debian's fonts-wqy-microhei (tools/install_deps.sh).
const vlm::io::truetype_font& test_font() {
  static const vlm::io::truetype_font font(vlm::data::resolve_font({}));
  return font;
}

// Pixels as a string key for std::set (a set of byte vectors trips a GCC 12 -Wstringop-overread
// false positive).
std::string key(const vlm::io::image& img) { return std::string(img.rgb.begin(), img.rgb.end()); }

std::size_t ink_pixels(const vlm::io::image& img, int x0 = 0, int x1 = 1 << 30) {
  std::size_t n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = std::max(0, x0); x < std::min(img.width, x1); ++x)
      n += img.rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(img.width) + static_cast<std::size_t>(x)) * 3] < 128;
  return n;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("render_text (fixed layout) is deterministic and 28 x 336, one cell per character", "[cpu][io][data]") {
  const auto& font = test_font();
  for (std::uint64_t seed : {0ull, 1ull, 17ull, 97ull, 12345678901ull}) {
    const std::string text = vlm::data::random_ocr_text(seed);
    const auto a = vlm::data::render_text(font, text, seed);
    CHECK(a.rgb == vlm::data::render_text(font, text, seed).rgb);
    CHECK(a.width == 336);
    CHECK(a.height == 28);
    CHECK(a.rgb.size() == 336u * 28u * 3u);
    CHECK(vlm::data::render_text(font, text, seed + 1).rgb != a.rgb);
  }
  // Character k's ink lies in cell k (the patch-merge unit), so image token k sees it.
  const std::string text = "等:¥476.0余";
  const auto img = vlm::data::render_text(font, text, 3, clean());
  const std::size_t n = charset_chars(text).size();
  for (std::size_t k = 0; k < 12; ++k) {
    INFO("cell " << k);
    const std::size_t ink = ink_pixels(img, static_cast<int>(k) * 28, static_cast<int>(k + 1) * 28);
    if (k < n) CHECK(ink > 0);
    else CHECK(ink == 0);
  }
  // Jitter moves glyphs by at most opt.jitter px: with 2, a CJK glyph still fits its cell +-2 px.
  auto jittered = clean();
  jittered.jitter = 2;
  const auto one = vlm::data::render_text(font, "国", 5, jittered);
  CHECK(ink_pixels(one, 0, 30) == ink_pixels(one));
}

TEST_CASE("render_text proportional layout: width a multiple of 28, 56 to 336", "[cpu][io][data]") {
  auto o = clean();
  o.layout = vlm::data::ocr_layout::proportional;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    const auto img = vlm::data::render_text(test_font(), vlm::data::random_ocr_text(seed), seed, o);
    CHECK(img.height == 28);
    CHECK(img.width % 28 == 0);
    CHECK(img.width >= 56);
    CHECK(img.width <= 336);
    CHECK(ink_pixels(img) > 0);
  }
  // Proportional: two digits take less room than two Chinese characters.
  const auto digits = vlm::data::render_text(test_font(), "11", 0, o);
  const auto han = vlm::data::render_text(test_font(), "国国国国国国国国", 0, o);
  CHECK(digits.width < han.width);
  CHECK(vlm::data::parse_ocr_layout("proportional") == vlm::data::ocr_layout::proportional);
  CHECK_THROWS_AS(vlm::data::parse_ocr_layout("curved"), vlm::config_error);
}

TEST_CASE("different strings give different images", "[cpu][io][data]") {
  const auto& font = test_font();
  CHECK(vlm::data::render_text(font, "¥476.0", 5).rgb != vlm::data::render_text(font, "¥476.8", 5).rgb);
  CHECK(vlm::data::render_text(font, "学历", 5, clean()).rgb != vlm::data::render_text(font, "历学", 5, clean()).rgb);
  std::set<std::string> seen, texts;
  for (std::uint64_t i = 0; i < 60; ++i) {
    const std::string t = vlm::data::random_ocr_text(i);
    if (!texts.insert(t).second) continue;
    CHECK(seen.insert(key(vlm::data::render_text(font, t, 42, clean()))).second);
  }
}

TEST_CASE("every character of the charset draws ink, and no two alike", "[cpu][io][data]") {
  std::set<std::string> bitmaps;
  const auto chars = charset_chars(vlm::data::ocr_charset());
  CHECK(chars.size() == 17 + 300);
  for (const std::string& ch : chars) {
    INFO("character '" << ch << "'");
    const auto img = vlm::data::render_text(test_font(), ch, 3, clean());
    CHECK(ink_pixels(img) > 0);
    CHECK(bitmaps.insert(key(img)).second);
  }
  CHECK(bitmaps.size() == chars.size());
}

TEST_CASE("render_text names the character the font lacks and the limits", "[cpu][io][data]") {
  const auto& font = test_font();
  VLM_CHECK_THROWS_WITH_AS(vlm::data::render_text(font, "a\U0001F600", 0), Contains("U+1F600") && Contains("no glyph"),
                         vlm::format_error);
  CHECK_THROWS_AS(vlm::data::render_text(font, "", 0), vlm::format_error);
  VLM_CHECK_THROWS_WITH_AS(vlm::data::render_text(font, std::string(13, '8'), 0), Contains("13 characters") && Contains("12 cells"),
                         vlm::format_error);
  CHECK_THROWS_AS(vlm::io::truetype_font(fs::path(VLM_TEST_DATA_DIR) / "no-such.ttf"), vlm::io_error);
  // A file that is not a font.
  VLM_CHECK_THROWS_WITH_AS(vlm::io::truetype_font(fs::path(VLM_TEST_DATA_DIR) / "train" / "lr_schedule.json"),
                         Contains("not a TrueType"), vlm::format_error);
}

TEST_CASE("random_ocr_text gives 2-12 charset characters in the seed's shapes", "[cpu][io][data]") {
  const auto allowed = charset_chars(vlm::data::ocr_charset());
  const std::set<std::string> ok(allowed.begin(), allowed.end());
  std::set<std::string> distinct;
  int with_yuan = 0, with_percent = 0, all_han = 0, with_colon_amount = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    const std::string t = vlm::data::random_ocr_text(i);
    INFO("seed " << i << ": '" << t << "'");
    CHECK(t == vlm::data::random_ocr_text(i));
    const auto chars = charset_chars(t);
    CHECK(chars.size() >= 2);
    CHECK(chars.size() <= 12);
    bool han_only = true;
    for (const auto& c : chars) {
      CHECK(ok.count(c) == 1);
      han_only = han_only && c.size() == 3;  // every Chinese character is 3 UTF-8 bytes, ¥ is 2
    }
    with_yuan += t.find("¥") != std::string::npos;
    with_percent += t.find('%') != std::string::npos;
    with_colon_amount += t.find(":¥") != std::string::npos;
    all_han += han_only;
    distinct.insert(t);
  }
  CHECK(distinct.size() > 1900);
  // Prices, '等:¥476.0' labels, '般10%以下' percentages and Chinese words all occur often.
  CHECK(with_yuan > 200);
  CHECK(with_colon_amount > 100);
  CHECK(with_percent > 100);
  CHECK(all_han > 300);
}

TEST_CASE("write_png round-trips through load_image byte for byte", "[cpu][io][data]") {
  vlm_test::temp_dir tmp;
  for (std::uint64_t seed : {0ull, 1ull, 2ull, 3ull, 4ull, 5ull}) {
    vlm::data::render_options o;
    o.noise_probability = seed % 2 ? 1.f : 0.f;  // noisy and clean images
    const auto img = vlm::data::render_text(test_font(), vlm::data::random_ocr_text(seed), seed, o);
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
  VLM_CHECK_THROWS_WITH_AS(vlm::io::encode_png(short_image), Contains("48"), vlm::format_error);
  CHECK_THROWS_AS(vlm::io::encode_png(vlm::io::image{}), vlm::format_error);
}

TEST_CASE("make_ocr_dataset writes the seed's LabelTrain.txt and jsonl split, independent of thread count", "[cpu][io][data]") {
  vlm_test::temp_dir tmp;
  vlm::data::dataset_options one;
  one.threads = 1;
  vlm::data::dataset_options many;
  many.threads = 3;
  std::vector<std::pair<int, int>> calls;
  many.progress = [&](int done, int total) { calls.emplace_back(done, total); };
  const auto s = vlm::data::make_ocr_dataset(tmp / "a", 7, 3, 11, one);
  vlm::data::make_ocr_dataset(tmp / "b", 7, 3, 11, many);
  // Progress: one call per image here (1 % of 10 rounds up to 1), (10, 10) among them (threads
  // may report out of order).
  REQUIRE(calls.size() == 10);
  CHECK(std::find(calls.begin(), calls.end(), std::pair{10, 10}) != calls.end());
  CHECK(s.n_train == 7);
  CHECK(s.n_val == 3);
  CHECK(s.train_jsonl == tmp / "a" / "train.jsonl");
  const auto labels = read_lines(tmp / "a" / "LabelTrain.txt");
  REQUIRE(labels.size() == 10);
  CHECK(labels == read_lines(tmp / "b" / "LabelTrain.txt"));
  CHECK(labels[0].rfind("Train_000001.png\t", 0) == 0);
  std::size_t line = 0;
  for (const char* split : {"train", "val"}) {
    const auto rows = read_lines(tmp / "a" / (std::string(split) + ".jsonl"));
    CHECK(rows == read_lines(tmp / "b" / (std::string(split) + ".jsonl")));
    REQUIRE(rows.size() == (std::string(split) == "train" ? 7u : 3u));
    for (const auto& row : rows) {
      const auto j = nlohmann::json::parse(row);
      CHECK(j.size() == 3);
      CHECK(j.at("query") == "请识别图片中的文字");
      char name[64];
      std::snprintf(name, sizeof name, "Train_%06zu.png", line + 1);
      CHECK(j.at("image_path") == std::string("images/") + name);
      CHECK(labels[line] == std::string(name) + "\t" + j.at("response").get<std::string>());
      const auto img = vlm::io::load_image((tmp / "a" / "images" / name).string());
      CHECK(img.rgb == vlm::io::load_image((tmp / "b" / "images" / name).string()).rgb);
      CHECK(img.width == 336);
      CHECK(img.height == 28);
      ++line;
    }
  }
  // The seed's json.dumps(..., ensure_ascii=False) spelling: ", " and ": ", UTF-8 kept.
  CHECK(read_lines(tmp / "a" / "train.jsonl")[0].rfind("{\"query\": \"请识别图片中的文字\", \"response\": \"", 0) == 0);
  // Another seed, other data.
  vlm::data::make_ocr_dataset(tmp / "c", 7, 0, 12, one);
  CHECK(read_lines(tmp / "c" / "train.jsonl") != read_lines(tmp / "a" / "train.jsonl"));
  CHECK(read_lines(tmp / "c" / "val.jsonl").empty());
  CHECK_THROWS_AS(vlm::data::make_ocr_dataset(tmp / "d", -1, 0, 0), vlm::config_error);
  vlm::data::dataset_options bad_font;
  bad_font.font = tmp / "missing.ttf";
  VLM_CHECK_THROWS_WITH_AS(vlm::data::make_ocr_dataset(tmp / "e", 1, 0, 0, bad_font), Contains("missing.ttf"), vlm::io_error);
}

TEST_CASE("label file: read, split like the seed's script, errors name file:line", "[cpu][io][data]") {
  vlm_test::temp_dir tmp;
  vlm_test::write_bytes(tmp / "LabelTrain.txt", "a.jpg\t中国\r\nb.jpg\t余443张\nc.jpg\t等:¥476.0  \n");
  const auto lines = vlm::data::read_label_file(tmp / "LabelTrain.txt");
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].image_name == "a.jpg");
  CHECK(lines[0].text == "中国");          // \r stripped (the seed's rstrip)
  CHECK(lines[2].text == "等:¥476.0");    // trailing spaces stripped too
  const auto s = vlm::data::label_lines_to_jsonl(lines, "/data/TrainImages", 2, tmp.path);
  CHECK(s.n_train == 2);
  CHECK(s.n_val == 1);
  CHECK(read_lines(tmp / "train.jsonl") ==
        std::vector<std::string>{
            R"({"query": "请识别图片中的文字", "response": "中国", "image_path": "/data/TrainImages/a.jpg"})",
            R"({"query": "请识别图片中的文字", "response": "余443张", "image_path": "/data/TrainImages/b.jpg"})"});
  CHECK(read_lines(tmp / "val.jsonl") ==
        std::vector<std::string>{
            R"({"query": "请识别图片中的文字", "response": "等:¥476.0", "image_path": "/data/TrainImages/c.jpg"})"});
  vlm_test::write_bytes(tmp / "bad.txt", "a.jpg\tok\nno tab here\n");
  VLM_CHECK_THROWS_WITH_AS(vlm::data::read_label_file(tmp / "bad.txt"), Contains("bad.txt:2") && Contains("no tab here"),
                         vlm::format_error);
  vlm_test::write_bytes(tmp / "bad2.txt", "a.jpg\tx\ty\n");
  VLM_CHECK_THROWS_WITH_AS(vlm::data::read_label_file(tmp / "bad2.txt"), Contains("bad2.txt:1"), vlm::format_error);
  CHECK_THROWS_AS(vlm::data::read_label_file(tmp / "none.txt"), vlm::io_error);
}

TEST_CASE("char tokenizer: our tokenizer loads it; one token per character; round trips", "[cpu][io][data][tokenizer]") {
  vlm_test::temp_dir tmp;
  const std::string charset = vlm::data::ocr_tokenizer_charset();
  const std::size_t n = vlm::data::write_char_tokenizer(tmp.path, charset);
  const auto tok = vlm::tokenizer::tokenizer::from_dir(tmp.path);
  CHECK(n == tok.vocab_size());
  const auto vocab = vlm::data::make_char_vocab(charset);
  CHECK(tok.vocab_size() == vocab.tokens.size() + 22);  // 256 bytes + merges + 22 added
  CHECK(vocab.tokens.size() == 256 + vocab.merges.size());
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
  // The chat template's words and the seed's prompts are one token each (make_char_vocab's
  // phrase chains), except " assistant" which an earlier chain ("assistant") splits in two.
  CHECK(tok.encode("You are a helpful").size() == 4);
  CHECK(tok.encode("请识别图片中的文字").size() == 1);
  CHECK(tok.encode("system").size() == 1);
  CHECK(tok.encode(" <answer> </answer>").size() <= 6);
  // Characters outside the charset still round-trip (as several byte tokens).
  for (std::string s : {"發票 No.7 ok?", "emoji 😀 and tab\there\n", "  leading and trailing  "})
    CHECK(tok.decode(tok.encode(s)) == s);

  // The special and added tokens of the chat template are single ids, in Qwen's order.
  std::int32_t expect = vocab.first_added_id();
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
  const auto vocab = vlm::data::make_char_vocab(vlm::data::ocr_tokenizer_charset());
  CHECK(tj.at("model").at("vocab").size() == vocab.tokens.size());
  // The 256 byte symbols have Qwen2's ids.
  for (const auto& [token, id] : tj.at("model").at("vocab").items())
    if (id.get<int>() < 256) CHECK(qj.at("model").at("vocab").at(token) == id);
  CHECK(tj.at("model").at("merges").size() == vocab.merges.size());
  CHECK(nlohmann::json::parse(vlm_test::read_bytes(tmp / "vocab.json")).size() == vocab.tokens.size());
  CHECK(nlohmann::json::parse(vlm_test::read_bytes(tmp / "added_tokens.json")).at("<|image_pad|>") == vocab.first_added_id() + 12);
  VLM_CHECK_THROWS_WITH_AS(vlm::data::make_char_tokenizer_json("ab\xE8\xAF"), Contains("not valid UTF-8"),
                       vlm::format_error);
}
