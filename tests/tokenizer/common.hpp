// Shared helpers for tests/tokenizer: the Qwen2.5-VL tokenizer loaded once, and JSONL reading.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "vlm/tokenizer/tokenizer.hpp"

#include "../common/checks.hpp"  // defines: VLM_CHECK_THROWS_WITH_AS

namespace vlm_test {

inline std::string tokenizer_dir() { return std::string(VLM_TEST_DATA_DIR) + "/tokenizer"; }

// Loading parses 4.7 MB of JSON; do it once per test binary.
inline const vlm::tokenizer::tokenizer& qwen2_tokenizer() {
  static const auto tok = vlm::tokenizer::tokenizer::from_dir(tokenizer_dir());
  return tok;
}

// Every JSON object of a .jsonl file, except a leading {"meta": ...} line.
inline std::vector<nlohmann::json> read_jsonl(const std::string& name) {
  const std::string path = tokenizer_dir() + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (!j.contains("meta")) out.push_back(std::move(j));
  }
  return out;
}

inline std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.at("ids").get<std::vector<int32_t>>(); }

}  // namespace vlm_test
