// Shared by tests/rl: reading the jsonl case files in tests/data/rewards.
#pragma once
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vlm_test {
inline const std::string rewards_dir = std::string(VLM_TEST_DATA_DIR) + "/rewards";

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}
}  // namespace vlm_test
