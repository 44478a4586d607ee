// Training checkpoints shared by the SFT and GRPO trainers (spec 2.9): checkpoint-<N>/ is
// written as checkpoint-<N>.tmp and renamed, so a crash never leaves a half checkpoint under
// the final name. Pieces: the trainable parameters (adapter or full weights), the AdamW state
// (optimizer.safetensors: exp_avg.<name>, exp_avg_sq.<name>, metadata step), trainer_state.json,
// the list of a run's checkpoints in step order and save_total_limit rotation.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/io/atomic_file.hpp"   // atomic_write
#include "vlm/io/safetensors.hpp"   // save_safetensors, safetensors_file
#include "vlm/train/optim/adamw.hpp"
#include "vlm/train/peft.hpp"       // save_adapter

namespace vlm::train {

// The f32 parameters that train, with their names (the optimizer state keys), in visit order.
template <class Model>
void collect_trainable(Model& m, std::vector<parameter<float, cpu>*>& params, std::vector<std::string>& names) {
  params.clear();
  names.clear();
  m.visit_params([&](const std::string& name, auto& p) {
    if constexpr (std::is_same_v<std::decay_t<decltype(p)>, parameter<float, cpu>>)
      if (p.requires_grad) {
        params.push_back(&p);
        names.push_back(name);
      }
  }, "");
}

// checkpoint-<global>.tmp under run_dir, emptied and created; commit() renames it to
// checkpoint-<global> (replacing an older folder of that name) and returns the final path.
struct checkpoint_writer {
  std::filesystem::path tmp, final_dir;
  checkpoint_writer(const std::filesystem::path& run_dir, std::int64_t global)
      : tmp(run_dir / ("checkpoint-" + std::to_string(global) + ".tmp")),
        final_dir(run_dir / ("checkpoint-" + std::to_string(global))) {
    std::filesystem::remove_all(tmp);
    std::filesystem::create_directories(tmp);
  }
  std::filesystem::path commit() const {
    std::filesystem::remove_all(final_dir);
    std::filesystem::rename(tmp, final_dir);
    return final_dir;
  }
};

// Copies the files of a Hugging Face model folder that are not weights (tokenizer, chat
// template, preprocessor and generation configs, ...) into `dir`, so that a full-training
// checkpoint or a merged export loads on its own, as ms-swift's do. Existing files are kept.
inline void copy_model_side_files(const std::filesystem::path& base, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (base.empty() || !fs::is_directory(base)) return;
  for (const auto& e : fs::directory_iterator(base)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().extension() == ".safetensors" || name == "model.safetensors.index.json" ||
        fs::exists(dir / name))
      continue;
    fs::copy_file(e.path(), dir / name);
  }
}

// The model part of a checkpoint: the PEFT adapter (lora) or model.safetensors + config.json
// and the base model's tokenizer and processor files.
template <class Model>
void save_trained_weights(const std::filesystem::path& dir, Model& m, const std::string& train_type, const lora_config& lora,
                          const lora_targets& targets, const std::string& base_model) {
  if (train_type == "lora") {
    save_adapter(dir, m, lora, targets, base_model);
    return;
  }
  std::vector<io::tensor_ref> refs;
  m.visit_params([&](const std::string& name, auto& p) { refs.push_back(io::tensor_ref::of(name, p.value)); }, "");
  io::save_safetensors(dir / "model.safetensors", std::move(refs), {{"format", "pt"}});
  io::atomic_write(dir / "config.json", [&](std::ostream& o) { o << m.cfg.raw.dump(2) << "\n"; });
  copy_model_side_files(base_model, dir);
}

// Replaces every parameter by the one in dir/model.safetensors (a full-training checkpoint).
// throws: io_error / format_error from the safetensors reader (missing file or tensor).
template <class Model>
void load_full_weights(const std::filesystem::path& dir, Model& m) {
  auto f = io::safetensors_file::open(dir / "model.safetensors");
  m.visit_params([&](const std::string& name, auto& p) {
    using T = typename std::decay_t<decltype(p.value)>::value_type;
    p.value = f.get_as<T>(name).clone();
  }, "");
}

inline void save_optimizer_state(const std::filesystem::path& dir, adamw<float>& opt, const std::vector<std::string>& names) {
  std::vector<io::tensor_ref> state;
  for (std::size_t i = 0; i < names.size(); ++i) {
    state.push_back(io::tensor_ref::of("exp_avg." + names[i], opt.exp_avg()[i]));
    state.push_back(io::tensor_ref::of("exp_avg_sq." + names[i], opt.exp_avg_sq()[i]));
  }
  io::save_safetensors(dir / "optimizer.safetensors", std::move(state), {{"step", std::to_string(opt.steps())}});
}

// requires: opt built over the parameters `names` (same order as when saved).
// throws: io_error / format_error (missing file or tensor: the checkpoint does not fit the model).
inline void load_optimizer_state(const std::filesystem::path& dir, adamw<float>& opt, const std::vector<std::string>& names) {
  auto of = io::safetensors_file::open(dir / "optimizer.safetensors");
  for (std::size_t i = 0; i < names.size(); ++i) {
    opt.exp_avg()[i] = of.get_as<float>("exp_avg." + names[i]).clone();
    opt.exp_avg_sq()[i] = of.get_as<float>("exp_avg_sq." + names[i]).clone();
  }
  opt.set_steps(std::stoll(of.metadata().at("step")));
}

// throws: io_error naming the file when it is missing, format_error when it is not JSON.
inline nlohmann::ordered_json read_trainer_state(const std::filesystem::path& dir, const char* component) {
  const auto file = dir / "trainer_state.json";
  std::ifstream in(file);
  if (!in) fail<io_error>("[", component, "] cannot resume: '", file.string(), "' not found");
  try {
    return nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail<format_error>("[", component, "] cannot resume: '", file.string(), "' is not valid JSON (", e.what(), ")");
  }
}

// run_dir's checkpoint-<N> folders (not *.tmp leftovers), by N ascending.
inline std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir) {
  std::vector<std::filesystem::path> out;
  const std::regex name(R"(checkpoint-\d+)");
  for (const auto& e : std::filesystem::directory_iterator(run_dir))
    if (e.is_directory() && std::regex_match(e.path().filename().string(), name)) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::stoll(x.filename().string().substr(11)) < std::stoll(y.filename().string().substr(11));
  });
  return out;
}

// save_total_limit: deletes the oldest of `saved` (in save order) until `limit` remain, never
// `best` or `last` (HF keeps the best one; the newest is the one just written). limit <= 0: keep all.
inline void rotate_checkpoints(std::vector<std::filesystem::path>& saved, std::int64_t limit, const std::filesystem::path& best,
                               const std::filesystem::path& last) {
  if (limit <= 0) return;
  while (static_cast<std::int64_t>(saved.size()) > limit) {
    auto victim = std::find_if(saved.begin(), saved.end(), [&](const auto& p) { return p != best && p != last; });
    if (victim == saved.end()) break;
    std::filesystem::remove_all(*victim);
    saved.erase(victim);
  }
}

// Rewrites a jsonl file (atomically) without the records `keep` refuses; lines that are not JSON
// stay. A missing file is left alone. (Used on resume, for what a killed run logged after its
// last checkpoint.)
inline void filter_jsonl(const std::filesystem::path& path, const std::function<bool(const nlohmann::json&)>& keep) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> kept;
  bool dropped = false;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded() && !keep(j)) dropped = true;
    else kept.push_back(line);
  }
  in.close();
  if (!dropped) return;
  io::atomic_write(path, [&](std::ostream& o) {
    for (const auto& l : kept) o << l << "\n";
  });
}

}  // namespace vlm::train
