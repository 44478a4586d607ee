// vlm rlhf --rlhf_type grpo: GRPO like `swift rlhf --rlhf_type grpo` (seed section 4.5), with
// swift's flag names. vLLM and DeepSpeed flags are accepted and mapped to our own rollout
// engine (generation runs in-process with the live LoRA weights) or ignored with a warning.
// --system takes text or a file path; --external_plugins takes .so reward plugins (a Python
// plugin cannot run here: the seed's plugin reward is built in as external_ocr_format).
// --dataset_preprocess NAME rewrites every --dataset row with a registered row preprocessor
// (vlm/rl/preprocess.hpp) before training, the analogue of the preprocess_func of a dataset
// registered in ms-swift: `think_answer` is the seed's MyDataPreprocessor (query + " Output the
// thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.",
// solution = response). --resume_from_checkpoint <run>/checkpoint-N continues that run exactly
// (same flags otherwise); --save_total_limit keeps the newest N checkpoints.
#pragma once
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <vlm/rl/grpo.hpp>

#include "args.hpp"

namespace vlm::cli {

inline int cmd_rlhf(int argc, char** argv) {
  const std::set<std::string> known = {
      "rlhf_type", "model", "external_plugins", "reward_funcs", "reward_weights", "train_type", "lora_rank", "lora_alpha",
      "lora_dropout", "target_modules", "freeze_vit", "freeze_aligner", "freeze_llm", "torch_dtype", "dataset",
      "max_completion_length", "num_train_epochs", "max_steps", "per_device_train_batch_size", "per_device_eval_batch_size",
      "learning_rate", "gradient_accumulation_steps", "eval_steps", "save_steps", "save_total_limit", "logging_steps",
      "max_length", "output_dir", "warmup_ratio", "dataloader_num_workers", "num_generations", "temperature", "top_p",
      "top_k", "beta", "epsilon", "epsilon_high", "loss_type", "scale_rewards", "system", "log_completions", "seed",
      "ocr_mode", "quiet", "add_version", "num_iterations", "dataset_preprocess", "resume_from_checkpoint",
      // accepted with a warning
      "use_vllm", "vllm_device", "vllm_gpu_memory_utilization", "vllm_max_model_len", "vllm_mode", "deepspeed",
      "dataset_num_proc", "report_to", "gradient_checkpointing", "attn_impl", "async_generate",
      "sleep_level", "move_model_batches", "offload_optimizer", "offload_model"};
  args a(argc, argv, 2, known, {"quiet", "log_completions", "use_vllm"}, {"reward_funcs", "reward_weights", "target_modules", "dataset", "external_plugins"});
  if (a.get("rlhf_type", "grpo") != "grpo") throw usage_error("--rlhf_type " + a.get("rlhf_type") + ": only grpo is supported");
  for (const char* f : {"use_vllm", "vllm_device", "vllm_gpu_memory_utilization", "vllm_max_model_len", "vllm_mode", "async_generate", "sleep_level"})
    if (a.has(f)) std::cerr << "vlm rlhf: warning: --" << f << " maps to vlm's in-process rollout engine (no vLLM server; weights are used live)\n";
  for (const char* f : {"deepspeed", "dataset_num_proc", "report_to", "gradient_checkpointing", "attn_impl", "move_model_batches", "offload_optimizer", "offload_model", "dataloader_num_workers", "per_device_eval_batch_size", "eval_steps"})
    if (a.has(f)) std::cerr << "vlm rlhf: warning: --" << f << " is accepted and ignored\n";
  if (a.has("torch_dtype") && a.get("torch_dtype") != "float32")
    std::cerr << "vlm rlhf: warning: --torch_dtype " << a.get("torch_dtype") << ": training runs in float32 on the CPU backend\n";
  for (const auto& p : a.all("external_plugins")) {
    if (std::filesystem::path(p).extension() == ".so") rl::load_reward_plugin(p);
    else std::cerr << "vlm rlhf: warning: --external_plugins " << p << ": Python plugins cannot be loaded; the seed's OCR reward is built in as external_ocr_format (build a .so with vlm_register_rewards for your own)\n";
  }

  rl::grpo_args g;
  g.train_type = a.get("train_type", "lora");
  g.lora.rank = a.get_int("lora_rank", 8);
  g.lora.alpha = static_cast<float>(a.get_double("lora_alpha", 32));
  g.lora.dropout = static_cast<float>(a.get_double("lora_dropout", 0.05));
  if (a.has("target_modules")) g.targets.target_modules = a.all("target_modules");
  g.targets.freeze_vit = a.get_bool("freeze_vit", true);
  g.targets.freeze_aligner = a.get_bool("freeze_aligner", true);
  g.targets.freeze_llm = a.get_bool("freeze_llm", false);
  g.max_steps = a.get_int("max_steps", -1);
  g.num_train_epochs = a.get_double("num_train_epochs", 1);
  g.num_generations = static_cast<int>(a.get_int("num_generations", 8));
  g.per_device_train_batch_size = a.get_int("per_device_train_batch_size", g.num_generations);
  g.gradient_accumulation_steps = a.get_int("gradient_accumulation_steps", 1);
  g.num_iterations = static_cast<int>(a.get_int("num_iterations", 1));
  // swift counts completions per device; a generation batch (batch size x accumulation) needs whole groups.
  if (g.per_device_train_batch_size * g.gradient_accumulation_steps % g.num_generations != 0) {
    std::cerr << "vlm rlhf: warning: --per_device_train_batch_size " << g.per_device_train_batch_size << " x --gradient_accumulation_steps "
              << g.gradient_accumulation_steps << " is not a multiple of --num_generations " << g.num_generations
              << "; using --per_device_train_batch_size " << g.num_generations << "\n";
    g.per_device_train_batch_size = g.num_generations;
  }
  g.learning_rate = a.get_double("learning_rate", -1);
  g.warmup_ratio = a.get_double("warmup_ratio", 0);
  g.max_completion_length = a.get_int("max_completion_length", 512);
  g.temperature = static_cast<float>(a.get_double("temperature", 0.9));
  g.top_p = static_cast<float>(a.get_double("top_p", 0.9));
  g.top_k = static_cast<int>(a.get_int("top_k", 50));
  g.beta = a.get_double("beta", 0.04);
  g.epsilon = a.get_double("epsilon", 0.2);
  if (a.has("epsilon_high")) g.epsilon_high = a.get_double("epsilon_high", 0.2);
  g.loss = rl::parse_loss_type(a.get("loss_type", "grpo"));
  g.scale = rl::parse_scale_rewards(a.get("scale_rewards", "group"));
  if (a.has("reward_funcs")) g.reward_funcs = a.all("reward_funcs");
  for (const auto& w : a.all("reward_weights")) g.reward_weights.push_back(std::stod(w));
  if (a.has("ocr_mode")) g.reward_opts["ocr_mode"] = a.get("ocr_mode");
  g.logging_steps = a.get_int("logging_steps", 5);
  g.save_steps = a.get_int("save_steps", 500);
  g.save_total_limit = a.get_int("save_total_limit", -1);
  g.resume_from_checkpoint = a.get("resume_from_checkpoint");
  g.output_dir = a.get("output_dir", "output");
  g.add_version = a.get_bool("add_version", true);
  g.log_completions = a.get_bool("log_completions", false);
  g.seed = static_cast<std::uint64_t>(a.get_int("seed", 42));
  g.quiet = a.get_bool("quiet", false);
  g.raw = a.to_json();
  // --system: a file path (the seed passes prompt.txt) or the text itself.
  if (a.has("system")) {
    const std::string s = a.get("system");
    std::ifstream f(s);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      g.system = ss.str();
    } else if (std::filesystem::path(s).extension() == ".txt") {
      throw usage_error("--system '" + s + "': file not found");
    } else {
      g.system = s;
    }
  }

  using model_t = train::lora_model<float, cpu>;
  auto pipe = generate::chat_pipeline<model_t>::from_pretrained(a.required("model"));
  std::vector<rl::grpo_row> rows;
  for (const auto& d : a.all("dataset")) {
    auto r = rl::read_grpo_jsonl(d, g.system, a.get("dataset_preprocess"));
    rows.insert(rows.end(), r.begin(), r.end());
  }
  if (rows.empty()) throw usage_error("--dataset: no rows");
  rl::grpo_trainer<generate::chat_pipeline<model_t>> trainer(pipe, pipe.model(), g, rows);
  auto r = trainer.train();
  std::cout << "last_model_checkpoint: " << r.last_checkpoint.string() << "\n";
  return 0;
}

}  // namespace vlm::cli
