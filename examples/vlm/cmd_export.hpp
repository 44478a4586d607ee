// vlm export --adapters CKPT --merge_lora true [--model BASE] [--output_dir OUT]
// Like `swift export --merge_lora true`: W += (alpha/r) B A for every adapter, then writes a
// complete Hugging Face folder (default CKPT-merged) that `vlm infer` and transformers load:
// the base folder's config/tokenizer/processor files and model.safetensors with the merged
// weights, each in the dtype the base checkpoint stored it in.
#pragma once
#include <filesystem>
#include <iostream>

#include <vlm/models/qwen2_5_vl/load.hpp>
#include <vlm/train/checkpoint.hpp>
#include <vlm/train/peft.hpp>

#include "args.hpp"

namespace vlm::cli {

inline std::filesystem::path base_model_of(const std::filesystem::path& adapters, const args& a) {
  namespace fs = std::filesystem;
  if (a.has("model")) return a.get("model");
  for (const auto& candidate : {adapters / "args.json", adapters.parent_path() / "args.json"}) {
    if (!fs::exists(candidate)) continue;
    std::ifstream in(candidate);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("model") && j["model"].is_string()) return j["model"].get<std::string>();
  }
  std::ifstream in(adapters / "adapter_config.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_object() && j.value("base_model_name_or_path", std::string()) != "") return j["base_model_name_or_path"].get<std::string>();
  throw usage_error("cannot tell the base model of '" + adapters.string() + "': pass --model DIR");
}

inline int cmd_export(int argc, char** argv) {
  namespace fs = std::filesystem;
  args a(argc, argv, 2, {"adapters", "merge_lora", "model", "output_dir", "max_shard_size", "safe_serialization"});
  if (!a.get_bool("merge_lora", false)) throw usage_error("only --merge_lora true is supported by vlm export");
  if (a.has("max_shard_size")) std::cerr << "vlm export: warning: --max_shard_size ignored (one model.safetensors)\n";
  const fs::path adapters = a.required("adapters");
  const fs::path base = base_model_of(adapters, a);
  fs::path out = a.get("output_dir", adapters.string() + "-merged");
  if (fs::exists(out)) throw usage_error("'" + out.string() + "' already exists (swift skips an existing merge; remove it first)");

  using model_t = train::lora_model<float, cpu>;
  auto model = qwen2_5_vl::from_pretrained<model_t>(base);
  train::load_adapter(adapters, model);
  train::merge_lora(model);

  auto stored = io::safetensors_dir::open(base);
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  if (fs::exists(adapters / "args.json")) fs::copy_file(adapters / "args.json", tmp / "args.json");
  train::copy_model_side_files(base, tmp);
  std::vector<io::tensor_ref> refs;
  model.visit_params([&](const std::string& name, auto& p) {
    std::string key = name;
    for (const auto& c : qwen2_5_vl::weight_name_candidates(name))
      if (stored.contains(c)) { key = name; break; }
    const dtype want = stored.contains(name) ? stored.info(name).type : dtype::f32;
    if (want == dtype::bf16) refs.push_back(io::tensor_ref::of(key, cast<bf16>(p.value)));
    else if (want == dtype::f16) refs.push_back(io::tensor_ref::of(key, cast<f16>(p.value)));
    else refs.push_back(io::tensor_ref::of(key, p.value));
  }, "");
  io::save_safetensors(tmp / "model.safetensors", std::move(refs), {{"format", "pt"}});
  fs::rename(tmp, out);
  std::cout << "merged '" << adapters.string() << "' into '" << base.string() << "': wrote " << out.string() << "\n";
  return 0;
}

}  // namespace vlm::cli
