// Checkpoint key layouts of Qwen2.5-VL (spec 2): the published on-disk names
// (visual.*, model.*, lm_head.weight) and the HF >= 4.52 module-tree names that some
// trainers write to disk (model.visual.*, model.language_model.*). Our canonical names are
// the on-disk ones; candidates() lists where a canonical name may be found in a file.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace vlm::qwen2_5_vl {

inline std::vector<std::string> weight_name_candidates(std::string_view canonical) {
  std::vector<std::string> c{std::string(canonical)};
  auto starts = [&](std::string_view p) { return canonical.substr(0, p.size()) == p; };
  if (starts("visual.")) c.push_back("model." + std::string(canonical));
  else if (starts("model.")) c.push_back("model.language_model." + std::string(canonical.substr(6)));
  return c;
}

}  // namespace vlm::qwen2_5_vl
