// vlm sft: LoRA (or full) fine-tuning like `swift sft`, with swift's flag names. The seed's
// section 3.3 command line is accepted as is; flags about hardware we do not have (DeepSpeed,
// flash attention, bf16 mixed precision, ...) are accepted with a warning.
//   vlm sft --model DIR --dataset train.jsonl [--val_dataset val.jsonl] --train_type lora ...
#pragma once
#include <iostream>

#include <vlm/train/sft.hpp>

#include "args.hpp"

namespace vlm::cli {

inline const std::set<std::string> sft_flags = {
    "model", "dataset", "val_dataset", "split_dataset_ratio", "train_type", "torch_dtype", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "per_device_eval_batch_size", "learning_rate", "lora_rank", "lora_alpha", "lora_dropout",
    "use_rslora", "target_modules", "target_regex", "freeze_vit", "freeze_aligner", "freeze_llm", "gradient_accumulation_steps",
    "eval_steps", "save_steps", "save_total_limit", "logging_steps", "max_length", "truncation_strategy", "output_dir",
    "add_version", "warmup_ratio", "warmup_steps", "dataloader_num_workers", "seed", "system", "weight_decay", "adam_beta1",
    "adam_beta2", "adam_epsilon", "max_grad_norm", "lr_scheduler_type", "lr_scheduler_kwargs", "resume_from_checkpoint", "min_pixels", "max_pixels",
    "skip_bad_rows", "quiet",
    // accepted, with a warning: they configure hardware or services we do not use
    "deepspeed", "gradient_checkpointing", "attn_impl", "report_to", "bf16", "fp16", "ddp_backend", "device_map",
    "dataset_num_proc", "save_only_model", "lazy_tokenize", "columns", "model_type", "template", "use_liger_kernel"};

inline const std::set<std::string> ignored_hardware_flags = {"deepspeed", "gradient_checkpointing", "attn_impl", "report_to",
                                                             "bf16", "fp16", "ddp_backend", "device_map", "dataset_num_proc",
                                                             "save_only_model", "lazy_tokenize", "columns", "model_type",
                                                             "template", "use_liger_kernel"};

// --lr_scheduler_kwargs '{"min_lr_rate": 0.1}' or '{"min_lr": 2e-4}' (transformers' spelling).
inline double min_lr_rate_from(const args& a, double learning_rate) {
  if (!a.has("lr_scheduler_kwargs")) return 0;
  nlohmann::json kw;
  try {
    kw = nlohmann::json::parse(a.get("lr_scheduler_kwargs"));
  } catch (const nlohmann::json::exception&) {
    throw usage_error("--lr_scheduler_kwargs must be a JSON object, e.g. '{\"min_lr_rate\": 0.1}'");
  }
  if (!kw.is_object()) throw usage_error("--lr_scheduler_kwargs must be a JSON object");
  for (const auto& [k, v] : kw.items()) {
    if ((k != "min_lr_rate" && k != "min_lr") || !v.is_number())
      throw usage_error("--lr_scheduler_kwargs: unsupported key '" + k + "' (min_lr_rate or min_lr, a number)");
  }
  if (kw.contains("min_lr_rate")) return kw["min_lr_rate"].get<double>();
  if (learning_rate <= 0) throw usage_error("--lr_scheduler_kwargs min_lr needs an explicit --learning_rate");
  return kw["min_lr"].get<double>() / learning_rate;
}

inline train::sft_args sft_args_from(const args& a) {
  train::sft_args s;
  s.train_type = a.get("train_type", "lora");
  s.lora.rank = a.get_int("lora_rank", 8);
  s.lora.alpha = static_cast<float>(a.get_double("lora_alpha", 32));
  s.lora.dropout = static_cast<float>(a.get_double("lora_dropout", 0.05));
  s.lora.use_rslora = a.get_bool("use_rslora", false);
  if (a.has("target_modules")) s.targets.target_modules = a.all("target_modules");
  s.targets.target_regex = a.get("target_regex");
  s.targets.freeze_vit = a.get_bool("freeze_vit", true);
  s.targets.freeze_aligner = a.get_bool("freeze_aligner", true);
  s.targets.freeze_llm = a.get_bool("freeze_llm", false);
  s.num_train_epochs = a.get_double("num_train_epochs", 3);
  s.max_steps = a.get_int("max_steps", -1);
  s.per_device_train_batch_size = a.get_int("per_device_train_batch_size", 1);
  s.per_device_eval_batch_size = a.get_int("per_device_eval_batch_size", 1);
  s.gradient_accumulation_steps = a.get_int("gradient_accumulation_steps", -1);
  s.learning_rate = a.get_double("learning_rate", -1);
  s.adam.weight_decay = static_cast<float>(a.get_double("weight_decay", 0.1));
  s.adam.beta1 = static_cast<float>(a.get_double("adam_beta1", 0.9));
  s.adam.beta2 = static_cast<float>(a.get_double("adam_beta2", 0.95));
  s.adam.eps = static_cast<float>(a.get_double("adam_epsilon", 1e-8));
  s.max_grad_norm = a.get_double("max_grad_norm", 1.0);
  s.lr_scheduler_type = a.get("lr_scheduler_type", "cosine");
  s.min_lr_rate = min_lr_rate_from(a, s.learning_rate);
  s.warmup_ratio = a.get_double("warmup_ratio", 0);
  s.warmup_steps = a.get_int("warmup_steps", 0);
  s.logging_steps = a.get_int("logging_steps", 5);
  s.save_steps = a.get_int("save_steps", 500);
  s.eval_steps = a.get_int("eval_steps", -1);
  s.save_total_limit = a.get_int("save_total_limit", -1);
  s.encode.max_length = a.get_int("max_length", 2048);
  s.encode.truncation_strategy = a.get("truncation_strategy", "delete");
  s.output_dir = a.get("output_dir", "output");
  s.add_version = a.get_bool("add_version", true);
  s.seed = static_cast<std::uint64_t>(a.get_int("seed", 42));
  s.dataloader_num_workers = a.get_int("dataloader_num_workers", 1);
  s.resume_from_checkpoint = a.get("resume_from_checkpoint");
  s.system = a.get("system");
  s.skip_bad_rows = a.get_bool("skip_bad_rows", false);
  s.quiet = a.get_bool("quiet", false);
  s.raw = a.to_json();
  return s;
}

inline int cmd_sft(int argc, char** argv) {
  args a(argc, argv, 2, sft_flags, {"quiet", "skip_bad_rows", "gradient_checkpointing", "bf16", "fp16", "lazy_tokenize"},
         {"target_modules", "dataset", "val_dataset"});
  for (const auto& f : ignored_hardware_flags)
    if (a.has(f)) std::cerr << "vlm sft: warning: --" << f << " is accepted and ignored (CPU backend, f32 training)\n";
  if (a.has("torch_dtype") && a.get("torch_dtype") != "float32")
    std::cerr << "vlm sft: warning: --torch_dtype " << a.get("torch_dtype") << ": training runs in float32 on the CPU backend\n";
  using model_t = train::lora_model<float, cpu>;
  auto pipe = generate::chat_pipeline<model_t>::from_pretrained(a.required("model"));
  apply_pixel_limits(a, pipe.processor());
  auto s = sft_args_from(a);
  if (s.lora.rank <= 0) throw usage_error("--lora_rank must be positive");

  std::vector<train::sft_row> train_rows, val_rows;
  for (const auto& d : a.all("dataset")) {
    auto rows = train::read_sft_jsonl(d, s.system, s.skip_bad_rows);
    train_rows.insert(train_rows.end(), rows.begin(), rows.end());
  }
  if (train_rows.empty()) throw usage_error("--dataset: no training rows");
  for (const auto& d : a.all("val_dataset")) {
    auto rows = train::read_sft_jsonl(d, s.system, s.skip_bad_rows);
    val_rows.insert(val_rows.end(), rows.begin(), rows.end());
  }
  if (const double r = a.get_double("split_dataset_ratio", 0); r > 0 && val_rows.empty()) {
    const auto n = static_cast<std::size_t>(std::ceil(r * static_cast<double>(train_rows.size())));
    val_rows.assign(train_rows.end() - static_cast<std::ptrdiff_t>(n), train_rows.end());
    train_rows.resize(train_rows.size() - n);
  }
  train::sft_trainer<generate::chat_pipeline<model_t>> trainer(pipe, pipe.model(), s, train_rows, val_rows);
  std::cerr << "[vlm sft] " << train_rows.size() << " training rows, " << val_rows.size() << " validation rows, "
            << trainer.trainable_parameters() << " trainable parameters, " << trainer.max_steps() << " steps\n";
  auto r = trainer.train();
  std::cout << "last_model_checkpoint: " << r.last_checkpoint.string() << "\n";
  if (!r.best_checkpoint.empty()) std::cout << "best_model_checkpoint: " << r.best_checkpoint.string() << "\n";
  return 0;
}

}  // namespace vlm::cli
