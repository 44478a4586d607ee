// Supervised fine-tuning like `swift sft` (spec 2.5-2.9), LoRA or full, on the CPU backend.
//   One optimizer step = gradient_accumulation_steps micro-batches; each micro-batch's loss is
//   sum(token CE) / (label tokens of the whole step), so the step minimises the token-weighted
//   mean CE (transformers' num_items_in_batch). Gradients are clipped to max_grad_norm (the
//   logged grad_norm is the norm before clipping), AdamW steps with the scheduler's lr.
//   Logs every logging_steps (and step 1) with ms-swift's fields to stdout and logging.jsonl;
//   evaluates (eval_loss, eval_token_acc) and saves every eval_steps/save_steps and at the end,
//   keeping save_total_limit checkpoints (the best survives). A checkpoint is written to
//   checkpoint-N.tmp and renamed; it holds the adapter (or the full weights), the optimizer
//   state and trainer_state.json, so resume_from_checkpoint continues exactly: the data order
//   is a seeded permutation per epoch and the dropout generator is reseeded every step.
#pragma once
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "vlm/train/run_dir.hpp"
#include "vlm/io/atomic_file.hpp"
#include "vlm/io/safetensors.hpp"
#include "vlm/train/checkpoint.hpp"
#include "vlm/train/lora_model.hpp"
#include "vlm/models/qwen2_5_vl/flops.hpp"
#include "vlm/train/lr_schedule.hpp"
#include "vlm/train/optim/adamw.hpp"
#include "vlm/train/peft.hpp"
#include "vlm/train/sft_data.hpp"
#include "vlm/train/train_log.hpp"

namespace vlm::train {

struct sft_args {
  std::string train_type = "lora";
  lora_config lora{8, 32.f, 0.05f, false};
  lora_targets targets;
  double num_train_epochs = 3;
  std::int64_t max_steps = -1;
  std::int64_t per_device_train_batch_size = 1, per_device_eval_batch_size = 1;
  std::int64_t gradient_accumulation_steps = -1;  // -1: ceil(16 / batch size)
  double learning_rate = -1;                      // -1: 1e-4 (lora) / 1e-5 (full)
  adamw_config adam;
  double max_grad_norm = 1.0;
  std::string lr_scheduler_type = "cosine";
  double min_lr_rate = 0;  // cosine_with_min_lr (from --lr_scheduler_kwargs)
  double warmup_ratio = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t logging_steps = 5, eval_steps = -1, save_steps = 500, save_total_limit = -1;
  encode_options encode;
  std::string output_dir = "output";
  bool add_version = true;
  std::uint64_t seed = 42;
  std::int64_t dataloader_num_workers = 1;
  std::string resume_from_checkpoint;
  std::string system;
  bool skip_bad_rows = false;
  bool quiet = false;  // no progress bar / printed dicts (tests)
  nlohmann::json raw;  // the command line's arguments, written to args.json
};

struct sft_result {
  std::filesystem::path run_dir, last_checkpoint, best_checkpoint;
  std::vector<nlohmann::ordered_json> log;  // records in ms-swift's key order
  double best_metric = 0;
};

template <class Pipeline>
class sft_trainer {
 public:
  using Model = std::decay_t<decltype(std::declval<Pipeline&>().model())>;

  sft_trainer(Pipeline& pipe, Model& model, sft_args args, std::vector<sft_row> train, std::vector<sft_row> val)
      : pipe_(pipe), model_(model), a_(std::move(args)), train_(std::move(train)), val_(std::move(val)) {
    VLM_CHECK_AS(config_error, !train_.empty(), "[sft] the training set is empty");
    if (a_.gradient_accumulation_steps <= 0)
      a_.gradient_accumulation_steps = std::max<std::int64_t>(1, (16 + a_.per_device_train_batch_size - 1) / a_.per_device_train_batch_size);
    if (a_.learning_rate <= 0) a_.learning_rate = a_.train_type == "lora" ? 1e-4 : 1e-5;
    const std::int64_t micro_per_epoch = (static_cast<std::int64_t>(train_.size()) + a_.per_device_train_batch_size - 1) /
                                         a_.per_device_train_batch_size;
    steps_per_epoch_ = std::max<std::int64_t>(1, micro_per_epoch / a_.gradient_accumulation_steps);
    max_steps_ = a_.max_steps > 0 ? a_.max_steps
                                  : static_cast<std::int64_t>(std::ceil(a_.num_train_epochs * static_cast<double>(steps_per_epoch_)));
    if (a_.eval_steps <= 0) a_.eval_steps = a_.save_steps;
    sched_ = lr_schedule{a_.lr_scheduler_type, a_.learning_rate, max_steps_,
                         lr_schedule::warmup_from(a_.warmup_ratio, a_.warmup_steps, max_steps_), a_.min_lr_rate};
    if (a_.train_type == "lora") {
      if (a_.resume_from_checkpoint.empty()) attach_lora(model_, a_.lora, a_.targets, a_.seed);
      else load_adapter(a_.resume_from_checkpoint, model_);
      set_trainable(model_, train_type::lora);
    } else if (a_.train_type == "full") {
      set_trainable(model_, train_type::full, a_.targets);
    } else {
      fail<config_error>("[sft] --train_type '", a_.train_type, "' unsupported (lora, full)");
    }
    collect_trainable();
    VLM_CHECK_AS(config_error, !params_.empty(), "[sft] nothing to train (no trainable parameters)");
    opt_ = std::make_unique<adamw<float>>(params_, a_.adam);
  }

  std::int64_t max_steps() const { return max_steps_; }
  std::int64_t trainable_parameters() const {
    std::int64_t n = 0;
    for (auto* p : params_) n += p->numel();
    return n;
  }

  sft_result train() {
    namespace fs = std::filesystem;
    sft_result res;
    std::int64_t start_step = 0;
    if (!a_.resume_from_checkpoint.empty()) {
      start_step = load_checkpoint(a_.resume_from_checkpoint);
      res.run_dir = fs::path(a_.resume_from_checkpoint).parent_path();
    } else {
      res.run_dir = make_run_dir();
    }
    run_dir_ = res.run_dir;
    write_args();
    const auto t0 = std::chrono::steady_clock::now();
    double loss_acc = 0, run_flops = 0, run_loss = 0;
    std::int64_t loss_steps = 0, correct = 0, counted = 0;
    for (std::int64_t step = start_step; step < max_steps_; ++step) {
      const std::int64_t GA = a_.gradient_accumulation_steps;
      std::vector<sft_batch<float>> micro;
      std::int64_t step_tokens = 0;
      for (std::int64_t g = 0; g < GA; ++g) {
        micro.push_back(collate<float>(batch_examples(step * GA + g), pad_id()));
        step_tokens += micro.back().label_tokens;
      }
      for (const auto& mb : micro)
        run_flops += qwen2_5_vl::train_flops(model_.cfg, mb.inputs.input_ids.size(0), mb.inputs.input_ids.size(1),
                                             mb.label_tokens, mb.inputs.image_grids, vision_trains());
      double step_loss = 0;
      tape_.seed(a_.seed * 1000003ull + static_cast<std::uint64_t>(step));
      for (auto& mb : micro) {
        tape_.clear();
        if (mb.label_tokens == 0) continue;  // every reply truncated away: nothing to learn from
        auto out = model_.forward(tape_, mb.inputs, /*with_logits=*/false);
        // Logits only where a label is: the same loss and gradients, without lm_head on the
        // prompt positions (most of them).
        const auto [rows, labels] = labelled_rows(mb.shifted_labels);
        auto hidden = ag::gather_rows(tape_, out.hidden.view({-1, out.hidden.size(-1)}), rows);
        auto logits2 = model_.logits(tape_, hidden);
        auto loss = ag::cross_entropy(tape_, logits2, labels, static_cast<double>(std::max<std::int64_t>(1, step_tokens)));
        const double l = loss.item();
        if (!std::isfinite(l))
          fail<numeric_error>("[sft] loss is ", l, " at step ", step + 1, " (batch from ", source_of(mb), "). Hint: lower the learning rate");
        step_loss += l;
        count_accuracy(logits2, labels, correct, counted);
        tape_.backward(loss);
      }
      tape_.clear();
      const double grad_norm = opt_->clip_grad_norm(a_.max_grad_norm);
      if (!std::isfinite(grad_norm)) fail<numeric_error>("[sft] grad_norm is ", grad_norm, " at step ", step + 1, first_bad_param());
      opt_->step(static_cast<float>(sched_.at(step)));
      opt_->zero_grad();
      loss_acc += step_loss;
      run_loss += step_loss;
      ++loss_steps;
      const std::int64_t global = step + 1;
      const double elapsed = seconds_since(t0);
      if (!a_.quiet) std::cerr << "\r" << progress_bar("Train", global, max_steps_, elapsed) << std::flush;
      if (global == 1 || global % a_.logging_steps == 0 || global == max_steps_) {
        nlohmann::ordered_json rec;
        rec["loss"] = round8(loss_acc / static_cast<double>(loss_steps));
        rec["token_acc"] = round8(counted ? static_cast<double>(correct) / static_cast<double>(counted) : 0.0);
        rec["grad_norm"] = round8(grad_norm);
        rec["learning_rate"] = round8(sched_.at(global));
        rec["memory(GiB)"] = peak_memory_gib();  // host: peak resident set (CUDA would report reserved memory)
        const double done = static_cast<double>(global - start_step);
        rec["train_speed(iter/s)"] = std::round(done / std::max(1e-9, elapsed) * 1e6) / 1e6;
        rec["epoch"] = round8(static_cast<double>(global) / static_cast<double>(steps_per_epoch_));
        rec["global_step/max_steps"] = std::to_string(global) + "/" + std::to_string(max_steps_);
        rec["percentage"] = percentage(global, max_steps_);
        rec["elapsed_time"] = format_duration(elapsed);
        rec["remaining_time"] = format_duration(elapsed / done * static_cast<double>(max_steps_ - global));
        emit(rec, res);
        loss_acc = 0;
        loss_steps = 0;
        correct = counted = 0;
      }
      const bool last = global == max_steps_;
      if (!val_.empty() && (global % a_.eval_steps == 0 || last)) evaluate(global, res);
      if (global % a_.save_steps == 0 || last) save_checkpoint(global, res);
    }
    if (!a_.quiet) std::cerr << "\n";
    emit_summary(seconds_since(t0), max_steps_ - start_step, run_flops, run_loss, res);
    res.last_checkpoint = last_checkpoint_;
    res.best_checkpoint = best_checkpoint_;
    res.best_metric = best_metric_;
    return res;
  }

  // eval_loss (token-weighted) and eval_token_acc over the validation rows.
  std::pair<double, double> evaluate_metrics() {
    no_grad ctx;
    double loss_sum = 0;
    std::int64_t tokens = 0, correct = 0, counted = 0;
    for (std::size_t i = 0; i < val_.size(); i += static_cast<std::size_t>(a_.per_device_eval_batch_size)) {
      std::vector<sft_example> ex;
      for (std::size_t k = i; k < std::min(val_.size(), i + static_cast<std::size_t>(a_.per_device_eval_batch_size)); ++k)
        ex.push_back(encode_sft(pipe_, val_[k], a_.encode));
      std::vector<const sft_example*> ptrs;
      for (auto& e : ex) ptrs.push_back(&e);
      auto b = collate<float>(ptrs, pad_id());
      auto out = model_.forward(ctx, b.inputs);
      auto logits2 = out.logits.view({-1, out.logits.size(-1)});
      auto r = cross_entropy(logits2, b.shifted_labels, 1.0);  // sum over tokens
      loss_sum += r.loss;
      tokens += r.count;
      count_accuracy(logits2, b.shifted_labels, correct, counted);
    }
    return {tokens ? loss_sum / static_cast<double>(tokens) : 0.0, counted ? static_cast<double>(correct) / static_cast<double>(counted) : 0.0};
  }

 private:
  // Peak resident memory of this process in GiB, 2 decimals (getrusage: kilobytes on Linux).
  static double peak_memory_gib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return std::round(static_cast<double>(ru.ru_maxrss) / (1024.0 * 1024.0) * 100.0) / 100.0;
  }
  void collect_trainable() { train::collect_trainable(model_, params_, names_); }
  std::int64_t pad_id() const { return pipe_.tok().pad_token_id() >= 0 ? pipe_.tok().pad_token_id() : 0; }
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  static std::string source_of(const sft_batch<float>&) { return "the training set"; }
  std::string first_bad_param() const {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      auto g = params_[i]->grad.to_vector();
      for (float x : g)
        if (!std::isfinite(x)) return "; first non-finite gradient in '" + names_[i] + "'";
    }
    return "";
  }

  // Row indices of micro-batch `micro` (global count since step 0): epoch e is a permutation
  // seeded by (seed, e), so any position can be recomputed on resume.
  std::vector<const sft_example*> batch_examples(std::int64_t micro) {
    const std::int64_t bs = a_.per_device_train_batch_size, n = static_cast<std::int64_t>(train_.size());
    const std::int64_t per_epoch = steps_per_epoch_ * a_.gradient_accumulation_steps;
    const std::int64_t epoch = micro / per_epoch, in_epoch = micro % per_epoch;
    if (epoch != perm_epoch_) {
      perm_.resize(static_cast<std::size_t>(n));
      std::iota(perm_.begin(), perm_.end(), 0);
      std::mt19937_64 rng(a_.seed + static_cast<std::uint64_t>(epoch) * 7919u);
      for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with our own draw: portable
        std::int64_t j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1));
        std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
      }
      perm_epoch_ = epoch;
    }
    std::vector<std::size_t> rows;
    for (std::int64_t k = 0; k < bs; ++k) rows.push_back(static_cast<std::size_t>(perm_[static_cast<std::size_t>((in_epoch * bs + k) % n)]));
    // Encode in parallel (image decode + preprocess) with dataloader_num_workers threads.
    current_.clear();
    current_.resize(rows.size());
    std::vector<std::future<void>> jobs;
    const std::size_t workers = static_cast<std::size_t>(std::max<std::int64_t>(1, a_.dataloader_num_workers));
    for (std::size_t w = 0; w < std::min(workers, rows.size()); ++w)
      jobs.push_back(std::async(std::launch::async, [&, w] {
        for (std::size_t i = w; i < rows.size(); i += workers) current_[i] = encode_sft(pipe_, train_[rows[i]], a_.encode);
      }));
    for (auto& j : jobs) j.get();
    // Keep the encoded examples alive for the step: store them per micro-batch.
    held_.push_back(std::move(current_));
    if (held_.size() > static_cast<std::size_t>(a_.gradient_accumulation_steps)) held_.erase(held_.begin());
    std::vector<const sft_example*> ptrs;
    for (auto& e : held_.back()) ptrs.push_back(&e);
    return ptrs;
  }

  // The rows of flattened [B*L] labels that are not ignore_index, and those labels.
  static std::pair<std::vector<std::int64_t>, tensor<std::int64_t, cpu>> labelled_rows(const tensor<std::int64_t, cpu>& labels) {
    std::vector<std::int64_t> rows;
    for (std::int64_t i = 0; i < labels.numel(); ++i)
      if (labels.data()[i] != ignore_index) rows.push_back(i);
    auto picked = tensor<std::int64_t, cpu>::full({static_cast<std::int64_t>(rows.size())}, ignore_index);
    for (std::size_t k = 0; k < rows.size(); ++k) picked.data()[k] = labels.data()[rows[k]];
    return {std::move(rows), std::move(picked)};
  }

  static void count_accuracy(const tensor<float, cpu>& logits, const tensor<std::int64_t, cpu>& labels, std::int64_t& correct,
                             std::int64_t& counted) {
    const std::int64_t V = logits.size(-1), N = logits.size(0);
    auto lc = logits.contiguous();
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t y = labels.data()[n];
      if (y == ignore_index) continue;
      const float* row = lc.data() + n * V;
      ++counted;
      if (std::max_element(row, row + V) - row == y) ++correct;
    }
  }

  void emit(const nlohmann::ordered_json& rec, sft_result& res) {
    res.log.push_back(rec);
    if (!a_.quiet) std::cout << "\n" << rec.dump() << std::endl;
    std::ofstream out(run_dir_ / "logging.jsonl", std::ios::app);
    out << rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }

  // Whether the vision tower's own weights get gradients (full training without freeze_vit,
  // or LoRA on vision modules): its backward then costs 2x its forward.
  bool vision_trains() const {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i].find("visual.blocks") != std::string::npos || names_[i].find("patch_embed") != std::string::npos) return true;
    return false;
  }

  // The closing record, as transformers' Trainer logs it (train_runtime, *_per_second,
  // total_flos, train_loss) plus the achieved rate: total_flos counts the matrix products of
  // the steps this process ran (qwen2_5_vl/flops.hpp), not transformers' 6 x params x tokens.
  void emit_summary(double secs, std::int64_t steps, double flops, double loss_sum, sft_result& res) {
    if (steps <= 0) return;
    const double samples = static_cast<double>(steps * a_.per_device_train_batch_size * a_.gradient_accumulation_steps);
    nlohmann::ordered_json rec{{"train_runtime", round8(secs)},
                               {"train_samples_per_second", round8(samples / std::max(1e-9, secs))},
                               {"train_steps_per_second", round8(static_cast<double>(steps) / std::max(1e-9, secs))},
                               {"total_flos", flops},
                               {"train_gflop_per_step", round8(flops / static_cast<double>(steps) * 1e-9)},
                               {"train_gflops", round8(flops / std::max(1e-9, secs) * 1e-9)},
                               {"train_loss", round8(loss_sum / static_cast<double>(steps))},
                               {"epoch", round8(static_cast<double>(max_steps_) / static_cast<double>(steps_per_epoch_))},
                               {"global_step/max_steps", std::to_string(max_steps_) + "/" + std::to_string(max_steps_)}};
    emit(rec, res);
  }

  void evaluate(std::int64_t global, sft_result& res) {
    const auto t = std::chrono::steady_clock::now();
    auto [loss, acc] = evaluate_metrics();
    const double secs = seconds_since(t);
    nlohmann::ordered_json rec{{"eval_loss", round8(loss)}, {"eval_token_acc", round8(acc)}, {"eval_runtime", round8(secs)},
                       {"eval_samples_per_second", round8(static_cast<double>(val_.size()) / std::max(1e-9, secs))},
                       {"epoch", round8(static_cast<double>(global) / static_cast<double>(steps_per_epoch_))},
                       {"global_step/max_steps", std::to_string(global) + "/" + std::to_string(max_steps_)}};
    emit(rec, res);
    last_eval_loss_ = loss;
    has_eval_ = true;
  }

  std::filesystem::path make_run_dir() { return train::make_run_dir(a_.output_dir, a_.add_version); }


  void write_args() {
    nlohmann::json j = a_.raw;
    j["max_steps_resolved"] = max_steps_;
    j["gradient_accumulation_steps"] = a_.gradient_accumulation_steps;
    j["learning_rate"] = a_.learning_rate;
    io::atomic_write(run_dir_ / "args.json", [&](std::ostream& o) { o << j.dump(2) << "\n"; });
  }

  void save_checkpoint(std::int64_t global, sft_result& res) {
    checkpoint_writer w(run_dir_, global);
    save_trained_weights(w.tmp, model_, a_.train_type, a_.lora, a_.targets,
                         a_.raw.is_object() ? a_.raw.value("model", std::string()) : std::string());
    save_optimizer_state(w.tmp, *opt_, names_);
    bool best = false;
    if (has_eval_ && (best_checkpoint_.empty() || last_eval_loss_ < best_metric_)) {
      best_metric_ = last_eval_loss_;
      best = true;
    }
    nlohmann::ordered_json st{{"global_step", global}, {"max_steps", max_steps_}, {"log_history", res.log},
                      {"best_metric", has_eval_ ? nlohmann::json(best_metric_) : nlohmann::json(nullptr)},
                      {"best_model_checkpoint", best ? w.final_dir.string() : best_checkpoint_.string()},
                      {"train_type", a_.train_type}, {"seed", a_.seed}};
    io::atomic_write(w.tmp / "trainer_state.json", [&](std::ostream& o) { o << st.dump(2) << "\n"; });
    const auto final_dir = w.commit();
    if (best) best_checkpoint_ = final_dir;
    last_checkpoint_ = final_dir;
    saved_.push_back(final_dir);
    rotate_checkpoints(saved_, a_.save_total_limit, best_checkpoint_, last_checkpoint_);
  }

  std::int64_t load_checkpoint(const std::filesystem::path& dir) {
    auto st = read_trainer_state(dir, "sft");
    if (a_.train_type != "lora") load_full_weights(dir, model_);  // (a LoRA adapter was loaded by the constructor)
    // Parameters may have been replaced: rebuild the optimizer over the new tensors.
    collect_trainable();
    opt_ = std::make_unique<adamw<float>>(params_, a_.adam);
    load_optimizer_state(dir, *opt_, names_);
    if (!st["best_model_checkpoint"].get<std::string>().empty()) best_checkpoint_ = st["best_model_checkpoint"].get<std::string>();
    if (st["best_metric"].is_number()) {
      best_metric_ = st["best_metric"].get<double>();
      has_eval_ = true;
      last_eval_loss_ = best_metric_;
    }
    saved_ = list_checkpoints(dir.parent_path());
    last_checkpoint_ = dir;
    return st["global_step"].get<std::int64_t>();
  }

  Pipeline& pipe_;
  Model& model_;
  sft_args a_;
  std::vector<sft_row> train_, val_;
  std::vector<parameter<float, cpu>*> params_;
  std::vector<std::string> names_;
  std::unique_ptr<adamw<float>> opt_;
  lr_schedule sched_;
  tape<float, cpu> tape_;
  std::int64_t steps_per_epoch_ = 1, max_steps_ = 1;
  std::vector<std::int64_t> perm_;
  std::int64_t perm_epoch_ = -1;
  std::vector<sft_example> current_;
  std::vector<std::vector<sft_example>> held_;
  std::filesystem::path run_dir_, last_checkpoint_, best_checkpoint_;
  std::vector<std::filesystem::path> saved_;
  double best_metric_ = 0, last_eval_loss_ = 0;
  bool has_eval_ = false;
};

}  // namespace vlm::train
