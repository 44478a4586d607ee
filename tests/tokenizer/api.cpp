// The tokenizer's API and its parts: special-token metadata, the BPE merge order on a tiny
// hand-made vocabulary, UTF-8 replacement rules, the regex rewrite, thread safety, and the
// error messages for bad files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>  // getpid: a temp folder per test process

#include "common.hpp"
#include "vlm/tokenizer/byte_level.hpp"
#include "vlm/tokenizer/pre_tokenizer.hpp"
#include "vlm/tokenizer/stream_decoder.hpp"
#include "vlm/tokenizer/utf8.hpp"

using nlohmann::json;
using vlm::tokenizer::tokenizer;
using vlm_test::qwen2_tokenizer;

namespace {

// A GPT-2 style tokenizer.json: the 256 byte tokens (ids 0-255 in byte order), then one id per
// merge result in rank order, ByteLevel pre-tokenizer with its own regex.
json tiny_tokenizer_json(const std::vector<std::pair<std::string, std::string>>& merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    vlm::tokenizer::append_utf8(s, vlm::tokenizer::byte_to_unicode[b]);
    vocab[s] = b;
  }
  json m = json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = static_cast<int>(vocab.size());
    m.push_back(a + " " + b);
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 1000}, {"content", "<eos>"}, {"special", true}},
                                        {{"id", 1001}, {"content", "<eos>x"}, {"special", false}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

std::vector<std::string> tokens_of(const tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(t.id_to_token(id));
  return out;
}

std::string temp_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("vlm_tokenizer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("qwen2 tokenizer: vocabulary and special tokens", "[tokenizer]") {
  const auto& tok = qwen2_tokenizer();
  CHECK(tok.vocab_size() == 151665);
  CHECK(tok.eos_token_id() == 151645);
  CHECK(tok.pad_token_id() == 151643);
  CHECK(tok.bos_token_id() == -1);
  CHECK(tok.model_max_length() == 131072);
  CHECK(tok.token_to_id("<|im_end|>") == 151645);
  CHECK(tok.token_to_id("<|image_pad|>") == 151655);
  CHECK(tok.token_to_id("Ġthe") == 279);
  CHECK(tok.token_to_id("no such token") == -1);
  CHECK(tok.id_to_token(151652) == "<|vision_start|>");
  CHECK(tok.id_to_token(279) == "Ġthe");
  CHECK(tok.id_to_token(151665).empty());
  CHECK(tok.id_to_token(-1).empty());
  CHECK(tok.is_special(151643));
  CHECK(tok.is_special(151656));
  CHECK_FALSE(tok.is_special(151657));  // <tool_call> is an added, non-special token
  CHECK_FALSE(tok.is_special(279));
  CHECK_FALSE(tok.is_special(200000));
  CHECK(tok.pre_tokenizer_pattern().rfind("(?i:'s|'t|'re|'ve|'m|'ll|'d)", 0) == 0);
}

TEST_CASE("qwen2 tokenizer: encode basics", "[tokenizer]") {
  const auto& tok = qwen2_tokenizer();
  CHECK(tok.encode("").empty());
  CHECK(tok.encode("<|im_start|>user\nhi<|im_end|>") ==
        std::vector<int32_t>{151644, 872, 198, 6023, 151645});
  CHECK(tok.encode("<tool_call>") == std::vector<int32_t>{151657});  // added, matched too
  CHECK(tok.encode("<think>").size() == 3);  // not a Qwen2.5-VL token: <th ink >
  // Decode skips ids that name no token (rows past the vocabulary), as HF does.
  CHECK(tok.decode(std::vector<int32_t>{6023, 151665, 151935, 6023}) == "hihi");
  CHECK(tok.decode(std::vector<int32_t>{151644, 6023, 151645}, true) == "hi");
  CHECK(tok.decode(std::vector<int32_t>{151657, 6023}, true) == "<tool_call>hi");
}

TEST_CASE("qwen2 tokenizer: decode(encode(s)) == NFC(s) on random code points", "[tokenizer][property]") {
  const auto& tok = qwen2_tokenizer();
  std::mt19937 rng(17);
  for (int round = 0; round < 300; ++round) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 97);
    for (int i = 0; i < n; ++i) {
      char32_t cp;
      switch (rng() % 4) {
        case 0: cp = 0x20 + rng() % 0x60; break;              // ASCII
        case 1: cp = U"\t\n\r \u00a0\u3000\u2028\u180e"[rng() % 8]; break;
        case 2: cp = 0x80 + rng() % 0x2F80; break;            // Latin ... CJK punctuation
        default: cp = 0x3000 + rng() % 0x1D000; break;        // CJK, Hangul, emoji, ...
      }
      if (cp >= 0xD800 && cp < 0xE000) cp = 'x';              // no surrogates in UTF-8
      vlm::tokenizer::append_utf8(s, cp);
    }
    INFO("round " << round);
    CHECK(tok.decode(tok.encode(s)) == vlm::tokenizer::nfc(s));
  }
}

TEST_CASE("qwen2 tokenizer: concurrent encodes agree", "[tokenizer]") {
  const auto& tok = qwen2_tokenizer();
  std::string text;
  for (int i = 0; i < 200; ++i) text += "word" + std::to_string(i) + " 模型 " + std::to_string(i * 7919) + "\n";
  const auto expected = tok.encode(text);
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = tok.encode(text); });
  for (auto& th : threads) th.join();
  for (const auto& g : got) CHECK(g == expected);
}

TEST_CASE("bpe: lowest rank merges first, leftmost on ties", "[tokenizer]") {
  // Ranks: 0 "b c", 1 "a b", 2 "a a", 3 "aa aa".
  const auto t = tokenizer::from_json(tiny_tokenizer_json({{"b", "c"}, {"a", "b"}, {"a", "a"}, {"aa", "aa"}}).dump());
  CHECK(tokens_of(t, t.encode("abc")) == std::vector<std::string>{"a", "bc"});
  CHECK(tokens_of(t, t.encode("ab")) == std::vector<std::string>{"ab"});
  CHECK(tokens_of(t, t.encode("aaa")) == std::vector<std::string>{"aa", "a"});
  CHECK(tokens_of(t, t.encode("aaaaa")) == std::vector<std::string>{"aaaa", "a"});
  CHECK(tokens_of(t, t.encode("a abc")) == std::vector<std::string>{"a", "Ġ", "a", "bc"});
  // Added tokens: leftmost, then longest ("<eos>x" beats "<eos>").
  CHECK(t.encode("a<eos>x<eos>") == std::vector<int32_t>{'a', 1001, 1000});
  CHECK(t.vocab_size() == 1002);
  CHECK(t.decode(t.encode("a<eos>x<eos>b"), true) == "a<eos>xb");
  CHECK(t.eos_token_id() == -1);  // from_json reads no tokenizer_config.json

  // Merges written as ["a", "b"] pairs (newer tokenizers) load the same.
  auto j = tiny_tokenizer_json({{"b", "c"}, {"a", "b"}, {"a", "a"}, {"aa", "aa"}});
  for (auto& m : j["model"]["merges"]) {
    const auto s = m.get<std::string>();
    m = json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  const auto t2 = tokenizer::from_json(j.dump());
  CHECK(tokens_of(t2, t2.encode("aaaaa abc")) == std::vector<std::string>{"aaaa", "a", "Ġ", "a", "bc"});
}

TEST_CASE("utf8: lossy decoding matches Python's errors='replace'", "[tokenizer]") {
  using vlm::tokenizer::utf8_lossy;
  const std::string r = "\xEF\xBF\xBD";
  CHECK(utf8_lossy("\xE4\xB8") == r);
  CHECK(utf8_lossy("\xE4\xB8" "A") == r + "A");
  CHECK(utf8_lossy("\xC0\x80") == r + r);
  CHECK(utf8_lossy("\xED\xA0\x80") == r + r + r);  // a surrogate
  CHECK(utf8_lossy("\xF0\x9F\x98") == r);
  CHECK(utf8_lossy("\xF4\x90\x80\x80") == r + r + r + r);
  CHECK(utf8_lossy("\xE0\x80\x80") == r + r + r);  // overlong
  CHECK(utf8_lossy("a\x80" "b\xFF") == "a" + r + "b" + r);
  CHECK(utf8_lossy("\xF0\x9F\x98\x80\xF0\x9F") == "\xF0\x9F\x98\x80" + r);
  CHECK(utf8_lossy("\xE2\x82\xAC") == "\xE2\x82\xAC");
  using vlm::tokenizer::incomplete_tail_length;
  CHECK(incomplete_tail_length("ab\xE4\xB8") == 2);
  CHECK(incomplete_tail_length("\xF0\x9F\x98") == 3);
  CHECK(incomplete_tail_length("\xF0\x9F\x98\x80") == 0);
  CHECK(incomplete_tail_length("\xE4\x41") == 0);
  CHECK(incomplete_tail_length("\xED\xA0") == 0);  // can never become valid: final already
  CHECK(incomplete_tail_length("") == 0);
}

TEST_CASE("utf8: NFC", "[tokenizer]") {
  using vlm::tokenizer::nfc;
  CHECK(nfc("e\xCC\x81") == "\xC3\xA9");               // e + U+0301 -> é
  CHECK(nfc("\xE2\x84\xAB") == "\xC3\x85");            // U+212B ANGSTROM SIGN -> Å
  CHECK(nfc("\xE1\x84\x80\xE1\x85\xA1") == "\xEA\xB0\x80");  // Hangul jamo -> 가
  CHECK(nfc(std::string("a\0b", 3)) == std::string("a\0b", 3));
  VLM_CHECK_THROWS_WITH_AS(nfc("ok\xC3"), Catch::Contains("not valid UTF-8") && Catch::Contains("byte 2"),
                       vlm::format_error);
}

TEST_CASE("utf8: NFC by stretches equals utf8proc on the whole text", "[tokenizer][property]") {
  const auto& inert = vlm::tokenizer::detail::nfc_inert_table::get();
  for (char32_t c = 0; c < 0x80; ++c) CHECK(inert(c));  // nfc() relies on it
  CHECK_FALSE(inert(0x0301));  // combining acute
  CHECK_FALSE(inert(0x0BBE));  // Tamil vowel sign AA: class 0, but composes after U+0BC6
  CHECK_FALSE(inert(0x1161));  // Hangul jungseong A
  CHECK_FALSE(inert(0x212B));  // Angstrom sign: decomposes
  CHECK(inert(U'e'));
  CHECK(inert(0x4E2D));        // 中
  std::mt19937 rng(5);
  const std::u32string pool = U"aeiouAEOnc<=>\u0300\u0301\u0308\u0323\u0338\u0327\u0BC6\u0BBE\u0BD7"
                              U"\u1100\u1161\u11A8\uAC00\u212B\u00C5\u1E0A\u0344\u0F73\u4E2D \U0001D15E";
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) vlm::tokenizer::append_utf8(s, pool[rng() % pool.size()]);
    std::string whole;
    vlm::tokenizer::detail::append_nfc_utf8proc(whole, s);
    INFO("round " << round);
    CHECK(vlm::tokenizer::nfc(s) == whole);
  }
}

TEST_CASE("pre-tokenizer: \\s means Unicode White_Space, as in Oniguruma", "[tokenizer]") {
  using vlm::tokenizer::detail::rewrite_white_space;
  const std::string ws = std::string(vlm::tokenizer::detail::white_space_class);
  CHECK(rewrite_white_space(R"([^\s\p{L}]|\s+(?!\S)|[]\s])") ==
        "[^" + ws + R"(\p{L}]|[)" + ws + "]+(?![^" + ws + "])|[]" + ws + "]");
  CHECK_THROWS_AS(rewrite_white_space(R"([\S])"), vlm::config_error);
  vlm::tokenizer::regex_splitter split(R"(\s+|\S+)");
  std::vector<std::string> words;
  split.split("a\xE1\xA0\x8E" "b \xE3\x80\x80" "c", [&](std::string_view w) { words.emplace_back(w); });
  // U+180E is not White_Space: it stays inside the word; U+3000 is a space.
  CHECK(words == std::vector<std::string>{"a\xE1\xA0\x8E" "b", " \xE3\x80\x80", "c"});
}

TEST_CASE("pre-tokenizer: very long runs do not overflow the JIT stack", "[tokenizer]") {
  const auto& tok = qwen2_tokenizer();
  const std::string spaces(1 << 20, ' ');
  CHECK(tok.decode(tok.encode(spaces + "x")) == spaces + "x");
  const std::string letters(1 << 18, 'q');
  CHECK(tok.decode(tok.encode(letters)) == letters);
}

TEST_CASE("stream decoder: holds a split emoji back until it is complete", "[tokenizer]") {
  const auto& tok = qwen2_tokenizer();
  const auto ids = tok.encode("ok 👍");  // the emoji is one token; split it into byte tokens
  vlm::tokenizer::stream_decoder stream(tok);
  CHECK(stream.put(tok.token_to_id("ok")) == "ok");
  const std::string thumbs = "\xF0\x9F\x91\x8D";
  for (size_t i = 0; i + 1 < thumbs.size(); ++i) {
    std::string t;
    vlm::tokenizer::append_utf8(t, vlm::tokenizer::byte_to_unicode[static_cast<unsigned char>(thumbs[i])]);
    CHECK(stream.put(tok.token_to_id(t)).empty());
  }
  std::string last;
  vlm::tokenizer::append_utf8(last, vlm::tokenizer::byte_to_unicode[0x8D]);
  CHECK(stream.put(tok.token_to_id(last)) == thumbs);
  CHECK(stream.put(tok.token_to_id("\xC3\xA4")) == "");   // 'ä' token: byte 0xE4, a lead byte
  CHECK(stream.put(tok.token_to_id("A")) == "\xEF\xBF\xBD" "A");  // the lead was never finished
  CHECK(stream.finish().empty());
}

TEST_CASE("tokenizer errors name the file and the field", "[tokenizer][errors]") {
  const std::string dir = temp_dir();

  SECTION("missing file") {
    const std::string path = dir + "/does_not_exist.json";
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_file(path),
                         Catch::Contains("cannot open") && Catch::Contains(path), vlm::io_error);
  }
  SECTION("from_dir without tokenizer_config.json") {
    write_file(dir + "/tokenizer.json", tiny_tokenizer_json({}).dump());
    std::filesystem::remove(dir + "/tokenizer_config.json");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_dir(dir), Catch::Contains(dir + "/tokenizer_config.json"),
                         vlm::io_error);
  }
  SECTION("malformed JSON") {
    const std::string path = dir + "/broken.json";
    write_file(path, "{\"model\": {\"vocab\": ");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_file(path),
                         Catch::Contains("malformed JSON") && Catch::Contains(path), vlm::format_error);
  }
  SECTION("missing field") {
    auto j = tiny_tokenizer_json({});
    j["model"].erase("merges");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "my/tokenizer.json"),
                         Catch::Contains("'my/tokenizer.json'") && Catch::Contains("'/model/merges' is missing"),
                         vlm::format_error);
  }
  SECTION("wrong type") {
    auto j = tiny_tokenizer_json({});
    j["model"]["vocab"]["zz"] = "seven";
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "t.json"),
                         Catch::Contains("'/model/vocab/zz' must be an integer id, got string"),
                         vlm::format_error);
  }
  SECTION("merge of unknown tokens") {
    auto j = tiny_tokenizer_json({{"a", "b"}});
    j["model"]["merges"].push_back("q nope");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "t.json"),
                         Catch::Contains("'/model/merges/1'") && Catch::Contains("'nope' is not in '/model/vocab'"),
                         vlm::format_error);
  }
  SECTION("vocab and merges of the wrong shape") {
    auto j = tiny_tokenizer_json({});
    j["model"]["vocab"] = json::array();
    CHECK_THROWS_WITH(tokenizer::from_json(j.dump(), "t.json"),
                      Catch::Contains("'/model/vocab' must be an object, got array"));
    j = tiny_tokenizer_json({});
    j["model"]["vocab"]["zz"] = json::object();
    CHECK_THROWS_WITH(tokenizer::from_json(j.dump(), "t.json"),
                      Catch::Contains("'/model/vocab/zz' must be an integer id, got an object"));
    j = tiny_tokenizer_json({});
    j["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
    CHECK_THROWS_WITH(tokenizer::from_json(j.dump(), "t.json"),
                      Catch::Contains("'/model/merges/0' must be \"a b\" or [\"a\", \"b\"], got an array of 3"));
    j["model"]["merges"] = json::array({7});
    CHECK_THROWS_WITH(tokenizer::from_json(j.dump(), "t.json"),
                      Catch::Contains("'/model/merges/0' must be \"a b\" or [\"a\", \"b\"], got number"));
    j["model"]["merges"] = "a b";
    CHECK_THROWS_WITH(tokenizer::from_json(j.dump(), "t.json"),
                      Catch::Contains("'/model/merges' must be an array, got string"));
    CHECK_THROWS_WITH(tokenizer::from_json("", "empty.json"),
                      Catch::Contains("malformed JSON in 'empty.json'"));
  }
  SECTION("malformed merge") {
    auto j = tiny_tokenizer_json({});
    j["model"]["merges"].push_back("abc");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "t.json"),
                         Catch::Contains("'/model/merges/0' must be two tokens"), vlm::format_error);
  }
  SECTION("unsupported features are refused by name") {
    auto j = tiny_tokenizer_json({});
    j["normalizer"] = {{"type", "NFKC"}};
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "t.json"),
                         Catch::Contains("'/normalizer/type'") && Catch::Contains("NFKC"), vlm::config_error);
    j = tiny_tokenizer_json({});
    j["added_tokens"][0]["lstrip"] = true;
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_json(j.dump(), "t.json"),
                         Catch::Contains("'/added_tokens/0/lstrip'"), vlm::config_error);
  }
  SECTION("tokenizer_config.json naming an unknown token") {
    write_file(dir + "/tokenizer.json", tiny_tokenizer_json({}).dump());
    write_file(dir + "/tokenizer_config.json", R"({"eos_token": {"content": "<|nope|>"}})");
    VLM_CHECK_THROWS_WITH_AS(tokenizer::from_dir(dir),
                         Catch::Contains("'/eos_token'") && Catch::Contains("<|nope|>"), vlm::config_error);
    write_file(dir + "/tokenizer_config.json", R"({"eos_token": "<eos>", "model_max_length": 1e30})");
    const auto t = tokenizer::from_dir(dir);
    CHECK(t.eos_token_id() == 1000);
    CHECK(t.model_max_length() == SIZE_MAX);
  }
  SECTION("encode rejects invalid UTF-8") {
    VLM_CHECK_THROWS_WITH_AS(qwen2_tokenizer().encode("ab\xFF"), Catch::Contains("byte 2"), vlm::format_error);
  }
  std::filesystem::remove_all(dir);
}
