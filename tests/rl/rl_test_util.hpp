// Shared by tests/rl: where the reward case files live (read them with read_jsonl_file).
#pragma once
#include <string>

#include "../common/jsonl.hpp"  // defines: read_jsonl_file

namespace vlm_test {
inline const std::string rewards_dir = std::string(VLM_TEST_DATA_DIR) + "/rewards";
}  // namespace vlm_test
