// Reading the golden .jsonl files of tests/data.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace vlm_test {

// Every non-empty line of `path` as JSON; REQUIREs that the file opens.
inline std::vector<nlohmann::json> read_jsonl_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace vlm_test
