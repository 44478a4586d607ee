// Loading a Hugging Face Qwen2.5-VL folder: config.json + one or many safetensors shards.
// Each parameter is looked up under every known key layout (weight_names.hpp), its shape is
// checked against the one the config implies (the error names the tensor and both shapes),
// and its value is a zero-copy view of the mapped file when the stored dtype is T, else a
// converted copy (bf16 -> f32 when f32 compute is asked for, and so on).
#pragma once
#include <filesystem>

#include "vlm/io/safetensors.hpp"
#include "vlm/models/qwen2_5_vl/model.hpp"
#include "vlm/models/qwen2_5_vl/weight_names.hpp"

namespace vlm::qwen2_5_vl {

// Fills every parameter of `m` from `weights`. throws: format_error (missing tensor),
// shape_error (shape differs from the config's).
template <class Layer>
void load_weights(Layer& m, const io::safetensors_dir& weights) {
  m.visit_params([&](const std::string& name, auto& p) {
    if (name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos) return;  // adapters load separately
    using T = typename std::decay_t<decltype(p.value)>::value_type;
    const std::string* found = nullptr;
    auto candidates = weight_name_candidates(name);
    for (const auto& c : candidates)
      if (weights.contains(c)) {
        found = &c;
        break;
      }
    if (!found) weights.info(name);  // throws, naming the tensor, the folder and close names
    const auto& info = weights.info(*found);
    VLM_CHECK_AS(shape_error, info.shape == p.value.shape(), "[load] tensor '", *found, "' in '",
                 weights.path().string(), "' has shape ", info.shape.str(), ", the config implies ",
                 p.value.shape().str());
    if (info.type == dtype_of_v<T>) p.value = weights.template get<T>(*found);
    else p.value = weights.template get_as<T>(*found);
  }, "");
}

// Reads DIR/config.json and the weights in DIR. T: compute/storage type (float or bf16).
template <class Model>
Model from_pretrained(const std::filesystem::path& dir) {
  auto cfg = config::from_file(dir / "config.json");
  Model m(cfg);
  load_weights(m, io::safetensors_dir::open(dir));
  return m;
}

}  // namespace vlm::qwen2_5_vl
