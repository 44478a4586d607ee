// Golden tests: ids and decoded text must equal what HF `tokenizers` (and transformers'
// slow Qwen2Tokenizer) produced with the same tokenizer.json, case by case.
#include <string>
#include <vector>

#include "common.hpp"
#include "vlm/tokenizer/stream_decoder.hpp"
#include "vlm/tokenizer/utf8.hpp"

using vlm_test::ids_of;
using vlm_test::qwen2_tokenizer;
using vlm_test::read_jsonl;

namespace {

// Feeds ids one at a time; checks that every chunk is whole UTF-8, that text comes out as
// soon as its character is complete, and that the chunks add up to decode().
void check_stream(const vlm::tokenizer::tokenizer& tok, const std::vector<int32_t>& ids,
                  bool skip_special) {
  vlm::tokenizer::stream_decoder stream(tok, skip_special);
  std::string emitted;
  for (size_t k = 0; k < ids.size(); ++k) {
    const std::string chunk = stream.put(ids[k]);
    CHECK(vlm::tokenizer::find_invalid_utf8(chunk) == std::string::npos);
    emitted += chunk;
    const std::vector<int32_t> prefix(ids.begin(), ids.begin() + k + 1);
    // decode(prefix) ends in one U+FFFD exactly when a character is still unfinished.
    CHECK(emitted + (stream.pending_bytes() ? "\xEF\xBF\xBD" : "") == tok.decode(prefix, skip_special));
  }
  emitted += stream.finish();
  CHECK(emitted == tok.decode(ids, skip_special));
  CHECK(stream.pending_bytes() == 0);
}

}  // namespace

TEST_CASE("qwen2 tokenizer: golden encode cases give HF's ids and tokens", "[tokenizer][golden]") {
  const auto& tok = qwen2_tokenizer();
  const auto cases = read_jsonl("cases.jsonl");
  REQUIRE(cases.size() == 174);
  size_t exact = 0;
  for (const auto& c : cases) {
    INFO("case " << c.at("name").get<std::string>());
    const auto ids = tok.encode(c.at("text").get<std::string>());
    CHECK(ids == ids_of(c));
    exact += ids == ids_of(c);
    const auto tokens = c.at("tokens").get<std::vector<std::string>>();
    REQUIRE(tokens.size() == ids_of(c).size());
    for (size_t i = 0; i < tokens.size(); ++i) CHECK(tok.id_to_token(ids_of(c)[i]) == tokens[i]);
  }
  CHECK(exact == cases.size());
}

TEST_CASE("qwen2 tokenizer: golden cases decode as HF, with and without specials", "[tokenizer][golden]") {
  const auto& tok = qwen2_tokenizer();
  for (const auto& c : read_jsonl("cases.jsonl")) {
    INFO("case " << c.at("name").get<std::string>());
    const auto ids = ids_of(c);
    CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
    // One golden line (intl_26, text U+2028) lacks the skip field; it has no special tokens.
    const auto skip = c.value("decoded_skip_special_tokens", c.at("decoded").get<std::string>());
    CHECK(tok.decode(ids, true) == skip);
    check_stream(tok, ids, false);
    check_stream(tok, ids, true);
  }
}

TEST_CASE("qwen2 tokenizer: decode(encode(s)) == NFC(s)", "[tokenizer][golden][property]") {
  const auto& tok = qwen2_tokenizer();
  size_t checked = 0;
  for (const auto& c : read_jsonl("cases.jsonl")) {
    if (!c.value("decode_roundtrip_equals_nfc_text", true)) continue;
    INFO("case " << c.at("name").get<std::string>());
    const auto text = c.at("text").get<std::string>();
    CHECK(tok.decode(tok.encode(text)) == vlm::tokenizer::nfc(text));
    ++checked;
  }
  CHECK(checked == 174);
}

TEST_CASE("qwen2 tokenizer: golden decode cases (partial characters, specials)", "[tokenizer][golden]") {
  const auto& tok = qwen2_tokenizer();
  const auto cases = read_jsonl("decode_cases.jsonl");
  REQUIRE(cases.size() == 46);
  for (const auto& c : cases) {
    INFO("source " << c.at("source").get<std::string>() << " ids " << c.at("ids").dump());
    const auto ids = ids_of(c);
    CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
    CHECK(tok.decode(ids, true) == c.at("decoded_skip_special_tokens").get<std::string>());
    check_stream(tok, ids, false);
    check_stream(tok, ids, true);
  }
}

TEST_CASE("qwen2 tokenizer: extra cases from tools/gen_tokenizer_cases.py", "[tokenizer][golden]") {
  const auto& tok = qwen2_tokenizer();
  const auto cases = read_jsonl("extra_cases.jsonl");
  REQUIRE(cases.size() >= 300);
  size_t encoded = 0, decoded = 0;
  for (const auto& c : cases) {
    INFO("case " << c.at("name").get<std::string>());
    const auto ids = ids_of(c);
    if (c.contains("text")) {
      const auto text = c.at("text").get<std::string>();
      CHECK(tok.encode(text) == ids);
      ++encoded;
    }
    CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
    CHECK(tok.decode(ids, true) == c.at("decoded_skip_special_tokens").get<std::string>());
    check_stream(tok, ids, false);
    ++decoded;
  }
  CHECK(encoded >= 240);
  CHECK(decoded == cases.size());
}
