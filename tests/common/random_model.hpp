// Writes config.json and model.safetensors of a small random Qwen2.5-VL into a folder (tests
// that need a model folder for a tokenizer other than the golden tiny one). Weights are
// normal(0, 0.02), norm weights 1, from std::mt19937(seed).
#pragma once
#include <filesystem>
#include <fstream>
#include <random>

#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/model.hpp>

namespace vlm_test {

inline void write_random_model(const std::filesystem::path& dir, const nlohmann::json& cfg, unsigned seed = 0) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << cfg.dump(2);
  vlm::qwen2_5_vl::model<float, vlm::cpu> m(vlm::qwen2_5_vl::config::from_json(cfg));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 0.02f);
  std::vector<vlm::io::tensor_ref> refs;
  m.visit_params([&](const std::string& name, auto& p) {
    for (std::int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] = name.find("norm") != std::string::npos ? 1.f : n(rng);
    refs.push_back(vlm::io::tensor_ref::of(name, p.value));
  });
  vlm::io::save_safetensors(dir / "model.safetensors", std::move(refs));
}

}  // namespace vlm_test
