// GRPO training (TRL GRPOTrainer / `swift rlhf --rlhf_type grpo`, spec section 4) on the CPU
// backend with LoRA (or full) training.
// Geometry (spec 4.1): a micro-batch is per_device_train_batch_size completions, an optimizer
// step is gradient_accumulation_steps (GA) micro-batches, and one generation batch holds GA
// micro-batches (steps_per_generation = GA: per_device_train_batch_size * GA / num_generations
// distinct prompts) and serves num_iterations (mu) consecutive optimizer steps.
//   1. rollout, once per generation batch: every prompt repeated num_generations (G) times,
//      consecutively, in one left-padded batch; generate_tokens samples (temperature, top_p,
//      top_k) with the live adapters, max_completion_length new tokens, a seed derived from
//      (seed, generation index).
//   2. rewards: completions are decoded (special tokens skipped, so the stop id is dropped), each
//      configured reward function scores them with the row's columns (solution, ...), the
//      weighted nansum is the reward; group_advantages (scale_rewards group by default) over the
//      generation batch.
//   3. the generation batch is cut in order into GA micro-batches (TRL shuffles it first; with
//      grpo/dr_grpo/dapo the step's gradient does not depend on the cut), each padded to its own
//      lengths. Still at generation time and without a tape: reference log-probs (the model with
//      adapters off) when beta != 0, and, when mu > 1, the old log-probs, kept for all mu passes
//      (so rho != 1 from the second pass on and the clipping acts). With mu = 1 the old log-probs
//      are the detached current ones (rho = 1), as TRL.
//   4. loss, per micro-batch: sequences [Bm, L + Tc] = left-padded prompt + right-padded
//      completion; the mask covers the generated tokens up to and including the stop id. The
//      policy runs on a tape over the whole sequences (with the prompts' images); logits at
//      position t predict token t + 1, so the completion log-probs come from positions
//      L - 1 .. L + Tc - 2, scaled by 1 / temperature (spec 4.3). grpo_loss with
//      gradient_accumulation_steps = GA (grpo/bnpo/dr_grpo are divided by GA; dapo by the
//      generation batch's completion tokens), backward accumulates; then clip_grad_norm, AdamW.
//   5. metrics (ms-swift 3.12 names, spec 4.6), one ordered_json per optimizer step: loss = the
//      sum of the micro-batch losses, kl and clip ratios their mean, rollout metrics those of the
//      generation batch (repeated for each of its mu steps). train() averages them over
//      logging_steps, appends them to logging.jsonl and, with log_completions, writes
//      completions.jsonl once per generation batch (ms-swift layout: parallel lists per event).
// Checkpoints (train/checkpoint.hpp, shared with SFT): checkpoint-N.tmp then renamed, holding the
// adapter (or full weights), optimizer.safetensors and trainer_state.json (step, log history,
// the logging sums since the last record, geometry); mid-way through a generation batch
// (N % mu != 0) also that batch (generation.json: rows, completion tokens, rewards;
// generation.safetensors: old/ref log-probs). Data order, rollout seeds and dropout seeds are
// functions of (seed, step), so resume_from_checkpoint continues exactly: a resumed run logs the
// same metrics as an uninterrupted one. Resuming drops the records after N that a killed run
// left in logging.jsonl / completions.jsonl. save_total_limit keeps the newest checkpoints.
// Not supported: vLLM rollouts (the CLI maps those flags to the in-process engine), several
// processes, an evaluation set, steps_per_generation other than GA, the generation batch shuffle.
// Reward names in the metrics are the registry names (ms-swift uses class names, e.g. `Format`).
// Rows: like SFT rows (query/response/image_path or messages), optionally rewritten first by a
// named row preprocessor (preprocess.hpp, e.g. think_answer); the reward's `solution` is the
// row's "solution" column, or its "response" (the reference answer) when there is none. A
// `messages` row need not end with an assistant turn.
#pragma once
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "vlm/autograd/ops.hpp"
#include "vlm/generate/generate.hpp"
#include "vlm/io/atomic_file.hpp"
#include "vlm/rl/advantages.hpp"
#include "vlm/rl/grpo_loss.hpp"
#include "vlm/rl/preprocess.hpp"       // preprocess_registry (read_grpo_jsonl's row preprocessor)
#include "vlm/rl/rewards.hpp"
#include "vlm/train/checkpoint.hpp"    // checkpoint_writer, optimizer state, rotation
#include "vlm/train/lora_model.hpp"
#include "vlm/train/lr_schedule.hpp"
#include "vlm/train/optim/adamw.hpp"
#include "vlm/train/peft.hpp"
#include "vlm/train/run_dir.hpp"
#include "vlm/train/sft_data.hpp"
#include "vlm/train/train_log.hpp"

namespace vlm::rl {

// One GRPO prompt: the conversation up to the generation prompt, the reference answer the
// rewards compare with, and the raw row (every column, for rewards that read others).
struct grpo_row {
  generate::conversation prompt;
  std::string solution;
  nlohmann::json columns = nlohmann::json::object();
  std::string source;
};

// throws: format_error naming `where` (as parse_sft_row).
inline grpo_row parse_grpo_row(const nlohmann::json& row, const std::string& where, const std::string& default_system) {
  if (!row.is_object()) fail<format_error>("[dataset] ", where, ": expected a JSON object");
  nlohmann::json j = row;
  if (j.contains("messages") && j["messages"].is_array() && !j["messages"].empty() &&
      j["messages"].back().value("role", "") != "assistant")
    j["messages"].push_back({{"role", "assistant"}, {"content", ""}});
  if (!j.contains("messages") && !j.contains("response")) j["response"] = "";
  auto s = train::parse_sft_row(j, where, default_system);
  grpo_row r;
  r.prompt = std::move(s.prompt);
  r.source = std::move(s.source);
  r.columns = row;
  if (row.contains("solution") && row["solution"].is_string()) r.solution = row["solution"].get<std::string>();
  else r.solution = s.response;
  return r;
}

// Rows of a jsonl file. `preprocess` names a row preprocessor of preprocess_registry::global()
// ("" = none) run on every raw row before it is parsed; a row it drops is skipped.
// throws: io_error (cannot open), config_error (unknown preprocessor), format_error naming
// file:line (bad JSON, a bad row, or the preprocessor's own error).
inline std::vector<grpo_row> read_grpo_jsonl(const std::filesystem::path& path, const std::string& default_system,
                                             const std::string& preprocess = "") {
  row_preprocessor pre;
  if (!preprocess.empty()) pre = preprocess_registry::global().get(preprocess);
  std::ifstream in(path);
  if (!in) fail<io_error>("[dataset] cannot open '", path.string(), "'");
  std::vector<grpo_row> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail<format_error>("[dataset] ", where, ": not valid JSON (", e.what(), ")");
    }
    if (pre) {
      std::optional<nlohmann::json> out;
      try {
        out = pre(std::move(j));
      } catch (const std::exception& e) {
        fail<format_error>("[dataset] ", where, ": preprocessor '", preprocess, "': ", e.what());
      }
      if (!out) continue;
      j = std::move(*out);
    }
    rows.push_back(parse_grpo_row(j, where, default_system));
    train::resolve_image_paths(rows.back().prompt, path.parent_path());
  }
  return rows;
}

struct grpo_args {
  std::string train_type = "lora";
  train::lora_config lora{8, 32.f, 0.05f, false};
  train::lora_targets targets;
  std::int64_t max_steps = -1;
  double num_train_epochs = 1;
  std::int64_t per_device_train_batch_size = 8;  // completions per micro-batch
  std::int64_t gradient_accumulation_steps = 1;  // micro-batches per optimizer step (= steps_per_generation)
  int num_generations = 8;
  int num_iterations = 1;  // mu: optimizer steps per generation batch
  double learning_rate = -1;  // -1: 1e-4 (lora) / 1e-5 (full), ms-swift GRPO
  train::adamw_config adam;
  double max_grad_norm = 1.0;
  std::string lr_scheduler_type = "cosine";
  double warmup_ratio = 0;
  std::int64_t warmup_steps = 0;
  // rollout (ms-swift defaults, spec 4.2)
  std::int64_t max_completion_length = 512;
  float temperature = 0.9f, top_p = 0.9f;
  int top_k = 50;
  // loss (spec 4.5, ms-swift defaults)
  double beta = 0.04, epsilon = 0.2;
  std::optional<double> epsilon_high, delta;
  loss_type loss = loss_type::grpo;
  scale_rewards scale = scale_rewards::group;
  // rewards
  std::vector<std::string> reward_funcs{"format"};
  std::vector<double> reward_weights;  // empty: all 1
  reward_options reward_opts = reward_options::object();
  // output
  std::int64_t logging_steps = 5, save_steps = 500, save_total_limit = -1;  // -1: keep every checkpoint
  std::string output_dir = "output";
  bool add_version = true;
  bool log_completions = false;
  std::string resume_from_checkpoint;  // a checkpoint-N folder of an earlier run of the same setup
  std::uint64_t seed = 42;
  std::string system;
  bool quiet = false;
  nlohmann::json raw;  // the command line's arguments, written to args.json
};

// Everything one rollout produced (kept for logging and tests): the whole generation batch.
struct grpo_rollout {
  qwen2_5_vl::model_inputs<float, cpu> inputs;  // [B, L + Tc]: prompt (left-padded) + completion, mask, images
  std::int64_t prompt_length = 0;                // L
  tensor<std::int64_t, cpu> completion_ids;      // [B, Tc], pad after the end
  tensor<float, cpu> completion_mask;            // [B, Tc], 1 = generated token (stop id included)
  std::vector<std::string> prompts, completions, finish_reason;
  std::vector<std::size_t> row_index;            // dataset row of every completion
  std::vector<std::vector<double>> rewards_per_func;  // [func][B]
  std::vector<double> rewards;                   // weighted sum [B]
  advantages_result advantages;
};

// Rows [first, first + Bm) of a generation batch, padded to their own lengths, with what the
// loss reads besides the current log-probs.
struct grpo_micro_batch {
  std::int64_t first = 0;                       // first row in the generation batch
  qwen2_5_vl::model_inputs<float, cpu> inputs;  // [Bm, L + Tc]
  std::int64_t prompt_length = 0;               // L
  tensor<std::int64_t, cpu> completion_ids;     // [Bm, Tc]
  tensor<float, cpu> completion_mask;           // [Bm, Tc]
  tensor<float, cpu> advantages;                // [Bm]
  tensor<float, cpu> old_logps, ref_logps;      // [Bm, Tc]: old when num_iterations > 1, ref when beta != 0
};

// A generation batch and its micro-batches, reused for num_iterations optimizer steps.
struct grpo_generation {
  std::int64_t index = -1;         // generation batches since step 0 (= step / num_iterations)
  std::vector<std::size_t> rows;   // dataset row of every prompt
  grpo_rollout rollout;
  std::vector<grpo_micro_batch> micro;
};

struct grpo_step_output {
  nlohmann::ordered_json record;  // this step's metrics
  grpo_rollout rollout;           // the generation batch this step trained on
  std::int64_t iteration = 0;     // which of its num_iterations passes (0-based)
  bool generated = false;         // this step ran the rollout
  // [B, Tc] in the rollout's layout (0 where a micro-batch is shorter): the current log-probs
  // (detached), the reference ones (undefined when beta = 0) and the stored old ones
  // (undefined when num_iterations = 1: they were the detached current ones).
  tensor<float, cpu> logps, ref_logps, old_logps;
  double loss = 0, grad_norm = 0;
};

struct grpo_result {
  std::filesystem::path run_dir, last_checkpoint;
  std::vector<nlohmann::ordered_json> log;  // with a resumed run: the checkpoint's history first
};

// Completion log-probs of `inputs` (full sequences, prompt length L) under `model`:
// log_softmax(logits[:, L-1 : L-1+Tc] / temperature)[completion_ids]. With a tape, recorded.
// The pass reproduces what generation saw: image features go only into the prompt's
// <|image_pad|> rows (a sampled image-pad id in a completion is an ordinary token, as in
// decoding), prompt positions come from get_rope_index over the prompt, completion token t
// sits at position L + t + rope_delta on all three M-RoPE axes (generate.hpp's decode steps).
template <class Ctx, class Model>
tensor<float, cpu> completion_logps(Ctx& ctx, const Model& model, const qwen2_5_vl::model_inputs<float, cpu>& inputs,
                                    std::int64_t prompt_length, const tensor<std::int64_t, cpu>& completion_ids,
                                    float temperature) {
  const std::int64_t B = inputs.input_ids.size(0), S = inputs.input_ids.size(1), L = prompt_length;
  const std::int64_t Tc = completion_ids.size(1), C = model.cfg.text.hidden_size;
  VLM_CHECK_AS(shape_error, L >= 1 && L + Tc == S, "[grpo] sequences of ", S, " tokens are not prompt ", L,
               " + completion ", Tc);
  auto ids = inputs.input_ids.contiguous();
  auto mask = inputs.attention_mask.defined() ? inputs.attention_mask.contiguous() : tensor<std::int64_t, cpu>::full({B, S}, 1);
  auto embeds = model.language.embed(ctx, ids.view({B * S}));  // [B*S, C]
  std::vector<std::int64_t> pad_rows;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l)
      if (ids.data()[b * S + l] == model.cfg.image_token_id) pad_rows.push_back(b * S + l);
  if (!inputs.image_grids.empty()) {
    auto image_embeds = model.visual.forward(ctx, inputs.pixel_values, inputs.image_grids);
    VLM_CHECK_AS(shape_error, static_cast<std::int64_t>(pad_rows.size()) == image_embeds.size(0), "[grpo] ",
                 pad_rows.size(), " <|image_pad|> tokens in the prompts, ", image_embeds.size(0), " image features");
    embeds = ag::scatter_rows(ctx, embeds, pad_rows, image_embeds);
  }
  embeds = embeds.view({B, S, C});
  auto prompt_ids = ids.narrow(1, 0, L).contiguous();
  auto prompt_mask = mask.narrow(1, 0, L).contiguous();
  auto pr = qwen2_5_vl::get_rope_index(prompt_ids, inputs.image_grids, prompt_mask, model.cfg);
  auto pos = tensor<std::int64_t, cpu>::empty({3, B, S});
  auto pp = pr.position_ids.contiguous();
  for (int a = 0; a < 3; ++a)
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t l = 0; l < L; ++l) pos.data()[(a * B + b) * S + l] = pp.data()[(a * B + b) * L + l];
      for (std::int64_t t = 0; t < Tc; ++t)
        pos.data()[(a * B + b) * S + L + t] = L + t + pr.rope_deltas[static_cast<std::size_t>(b)];
    }
  attention_mask am;
  am.causal = true;
  am.key_valid = tensor<std::uint8_t, cpu>::empty({B, S});
  for (std::int64_t i = 0; i < B * S; ++i) am.key_valid.data()[i] = mask.data()[i] != 0;
  auto hidden = model.language.forward(ctx, embeds, model.text_rope(pos), am);
  tensor<float, cpu> part;
  if constexpr (is_tape_v<Ctx>) part = ag::narrow(ctx, hidden, 1, L - 1, Tc);
  else part = hidden.narrow(1, L - 1, Tc).contiguous();
  auto logits = model.logits(ctx, part);  // [B, Tc, V]
  return per_token_logps(ctx, logits, completion_ids, temperature);
}

namespace detail {
template <class Model>
struct adapters_off {
  Model& m;
  explicit adapters_off(Model& model) : m(model) { train::set_adapters_enabled(m, false); }
  ~adapters_off() { train::set_adapters_enabled(m, true); }
  adapters_off(const adapters_off&) = delete;
  adapters_off& operator=(const adapters_off&) = delete;
};
inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5CCull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Micro-batch tensors parts[k] [Bm, Tm] stacked at rows firsts[k] of the generation batch's
// [B, T] (zeros beyond Tm); undefined when the parts are.
inline tensor<float, cpu> gather_rows(const std::vector<std::int64_t>& firsts, const std::vector<tensor<float, cpu>>& parts,
                                      std::int64_t B, std::int64_t T) {
  if (parts.empty() || !parts.front().defined()) return {};
  auto out = tensor<float, cpu>::zeros({B, T});
  for (std::size_t k = 0; k < parts.size(); ++k) {
    auto x = parts[k].contiguous();
    const std::int64_t Bm = x.size(0), Tm = x.size(1);
    for (std::int64_t b = 0; b < Bm; ++b)
      for (std::int64_t t = 0; t < Tm; ++t) out.data()[(firsts[k] + b) * T + t] = x.data()[b * Tm + t];
  }
  return out;
}
inline nlohmann::json doubles_to_json(const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (double x : v) j.push_back(std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x));
  return j;
}
inline std::vector<double> doubles_from_json(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>());
  return v;
}
}  // namespace detail

template <class Pipeline>
class grpo_trainer {
 public:
  using Model = std::decay_t<decltype(std::declval<Pipeline&>().model())>;

  // throws: config_error for unsupported settings, unknown rewards, bad geometry; io_error /
  // format_error for an unreadable resume_from_checkpoint adapter.
  grpo_trainer(Pipeline& pipe, Model& model, grpo_args args, std::vector<grpo_row> train)
      : pipe_(pipe), model_(model), a_(std::move(args)), train_(std::move(train)),
        rewards_(a_.reward_funcs, a_.reward_weights, a_.reward_opts) {
    VLM_CHECK_AS(config_error, !train_.empty(), "[grpo] the training set is empty");
    VLM_CHECK_AS(config_error, a_.num_generations >= 2, "[grpo] num_generations must be >= 2, got ", a_.num_generations);
    VLM_CHECK_AS(config_error, a_.per_device_train_batch_size >= 1, "[grpo] per_device_train_batch_size must be >= 1, got ",
                 a_.per_device_train_batch_size);
    VLM_CHECK_AS(config_error, a_.gradient_accumulation_steps >= 1, "[grpo] gradient_accumulation_steps must be >= 1, got ",
                 a_.gradient_accumulation_steps);
    VLM_CHECK_AS(config_error, a_.num_iterations >= 1, "[grpo] num_iterations must be >= 1, got ", a_.num_iterations);
    const std::int64_t gen_size = a_.per_device_train_batch_size * a_.gradient_accumulation_steps;
    VLM_CHECK_AS(config_error, gen_size % a_.num_generations == 0, "[grpo] the generation batch (per_device_train_batch_size ",
                 a_.per_device_train_batch_size, " x gradient_accumulation_steps ", a_.gradient_accumulation_steps, " = ", gen_size,
                 " completions) must be a multiple of num_generations (", a_.num_generations, ")");
    VLM_CHECK_AS(config_error, a_.max_completion_length >= 1, "[grpo] max_completion_length must be >= 1");
    VLM_CHECK_AS(config_error, a_.temperature > 0.f, "[grpo] temperature must be > 0 (sampling), got ", a_.temperature);
    VLM_CHECK_AS(config_error, a_.logging_steps >= 1 && a_.save_steps >= 1, "[grpo] logging_steps (", a_.logging_steps,
                 ") and save_steps (", a_.save_steps, ") must be >= 1");
    if (a_.learning_rate <= 0) a_.learning_rate = a_.train_type == "lora" ? 1e-4 : 1e-5;
    prompts_per_generation_ = gen_size / a_.num_generations;
    generations_per_epoch_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(train_.size()) / prompts_per_generation_);  // drop_last
    steps_per_epoch_ = generations_per_epoch_ * a_.num_iterations;
    max_steps_ = a_.max_steps > 0 ? a_.max_steps
                                  : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(a_.num_train_epochs * static_cast<double>(steps_per_epoch_))));
    sched_ = train::lr_schedule{a_.lr_scheduler_type, a_.learning_rate, max_steps_,
                                train::lr_schedule::warmup_from(a_.warmup_ratio, a_.warmup_steps, max_steps_)};
    if (a_.train_type == "lora") {
      if (a_.resume_from_checkpoint.empty()) train::attach_lora(model_, a_.lora, a_.targets, a_.seed);
      else train::load_adapter(a_.resume_from_checkpoint, model_);
      train::set_trainable(model_, train::train_type::lora);
    } else if (a_.train_type == "full") {
      VLM_CHECK_AS(config_error, a_.beta == 0.0,
                   "[grpo] full training with beta != 0 needs a separate reference model (not supported yet). Hint: --beta 0 or --train_type lora");
      if (!a_.resume_from_checkpoint.empty()) train::load_full_weights(a_.resume_from_checkpoint, model_);
      train::set_trainable(model_, train::train_type::full, a_.targets);
    } else {
      fail<config_error>("[grpo] --train_type '", a_.train_type, "' unsupported (lora, full)");
    }
    train::collect_trainable(model_, params_, names_);
    VLM_CHECK_AS(config_error, !params_.empty(), "[grpo] nothing to train (no trainable parameters)");
    opt_ = std::make_unique<train::adamw<float>>(params_, a_.adam);
  }

  std::int64_t max_steps() const { return max_steps_; }
  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }
  const grpo_args& args() const { return a_; }

  // Dataset rows (one per prompt) of generation batch `index` (0-based): a seeded permutation
  // per epoch, drop_last.
  std::vector<std::size_t> generation_rows(std::int64_t index) {
    const std::int64_t n = static_cast<std::int64_t>(train_.size());
    const std::int64_t epoch = index / generations_per_epoch_, in_epoch = index % generations_per_epoch_;
    if (epoch != perm_epoch_) {
      perm_.resize(static_cast<std::size_t>(n));
      std::iota(perm_.begin(), perm_.end(), 0);
      std::mt19937_64 rng(a_.seed + static_cast<std::uint64_t>(epoch) * 7919u);
      for (std::int64_t i = n - 1; i > 0; --i) {
        std::int64_t j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1));
        std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(j)]);
      }
      perm_epoch_ = epoch;
    }
    std::vector<std::size_t> rows;
    for (std::int64_t k = 0; k < prompts_per_generation_; ++k)
      rows.push_back(static_cast<std::size_t>(perm_[static_cast<std::size_t>((in_epoch * prompts_per_generation_ + k) % n)]));
    return rows;
  }

  // Rollout + rewards + advantages for the given rows (no parameter change); the sampling seed
  // is derived from (seed, generation_index).
  grpo_rollout rollout(const std::vector<std::size_t>& rows, std::int64_t generation_index, double* reward_seconds = nullptr) {
    return rollout_items(rows, prepare_rows(rows), generation_index, reward_seconds);
  }

  // One optimizer step (0-based index): a rollout when the step starts a generation batch
  // (step % num_iterations == 0, or nothing buffered for it), then GA micro-batches of loss and
  // backward, clipping and the AdamW update.
  grpo_step_output step(std::int64_t step) {
    using clock = std::chrono::steady_clock;
    grpo_step_output o;
    const std::int64_t index = step / a_.num_iterations, GA = a_.gradient_accumulation_steps;
    double rollout_s = 0, reward_s = 0;
    if (!gen_ || gen_->index != index) {
      const auto t0 = clock::now();
      gen_ = make_generation(index, &reward_s);
      rollout_s = std::chrono::duration<double>(clock::now() - t0).count() - reward_s;
      o.generated = true;
    }
    const auto& g = *gen_;
    const auto& r = g.rollout;
    o.iteration = step % a_.num_iterations;
    const auto t1 = clock::now();
    grpo_loss_options lo;
    lo.type = a_.loss;
    lo.epsilon = a_.epsilon;
    lo.epsilon_high = a_.epsilon_high;
    lo.delta = a_.delta;
    lo.beta = a_.beta;
    lo.max_completion_length = a_.max_completion_length;
    lo.gradient_accumulation_steps = static_cast<int>(GA);
    double gen_tokens = 0;
    for (float m : r.completion_mask.to_vector()) gen_tokens += m != 0.f;
    lo.num_items_in_batch = std::max(1.0, gen_tokens);  // dapo: the generation batch's completion tokens
    std::vector<std::int64_t> firsts;
    std::vector<tensor<float, cpu>> lps, olds, refs;
    double kl = 0, low = 0, high = 0, region = 0;
    std::int64_t tokens = 0;
    for (std::int64_t k = 0; k < GA; ++k) {
      const auto& mb = g.micro[static_cast<std::size_t>(k)];
      tape_.clear();
      tape_.seed(a_.seed * 1000003ull + static_cast<std::uint64_t>(step * GA + k));
      auto lp = completion_logps(tape_, model_, mb.inputs, mb.prompt_length, mb.completion_ids, a_.temperature);
      auto res = grpo_loss(tape_, lp, mb.old_logps, mb.ref_logps, mb.advantages, mb.completion_mask, lo);
      const double l = res.loss.item();
      if (!std::isfinite(l))
        fail<numeric_error>("[grpo] loss is ", l, " at step ", step + 1, " (micro-batch ", k + 1, " of ", GA, "). Hint: lower the learning rate");
      tape_.backward(res.loss);
      o.loss += l;
      if (a_.beta != 0.0) kl += res.metrics.kl;
      low += res.metrics.clip_ratio_low;
      high += res.metrics.clip_ratio_high;
      region += res.metrics.clip_ratio_region;
      tokens += res.metrics.num_tokens;
      lp.grad_slot = -1;  // the detached value
      firsts.push_back(mb.first);
      lps.push_back(lp);
      olds.push_back(mb.old_logps);
      refs.push_back(mb.ref_logps);
    }
    tape_.clear();
    const std::int64_t B = r.completion_ids.size(0), Tc = r.completion_ids.size(1);
    o.logps = detail::gather_rows(firsts, lps, B, Tc);
    o.ref_logps = detail::gather_rows(firsts, refs, B, Tc);
    o.old_logps = detail::gather_rows(firsts, olds, B, Tc);
    o.grad_norm = opt_->clip_grad_norm(a_.max_grad_norm);
    if (!std::isfinite(o.grad_norm)) fail<numeric_error>("[grpo] grad_norm is ", o.grad_norm, " at step ", step + 1, first_bad_param());
    opt_->step(static_cast<float>(sched_.at(step)));
    opt_->zero_grad();
    const double train_s = std::chrono::duration<double>(clock::now() - t1).count();
    o.rollout = r;

    const double micro_n = static_cast<double>(GA);
    auto& rec = o.record;
    rec["loss"] = o.loss;
    rec["grad_norm"] = o.grad_norm;
    rec["learning_rate"] = sched_.at(step);
    rec["reward"] = r.advantages.stats.reward;
    rec["reward_std"] = r.advantages.stats.reward_std;
    rec["frac_reward_zero_std"] = r.advantages.stats.frac_reward_zero_std;
    for (std::size_t k = 0; k < rewards_.names().size(); ++k) {
      auto s = nan_mean_std(r.rewards_per_func[k]);
      rec["rewards/" + rewards_.names()[k] + "/mean"] = s.mean;
      rec["rewards/" + rewards_.names()[k] + "/std"] = s.std;
    }
    double len_sum = 0, len_min = 1e300, len_max = 0, clipped = 0;
    for (std::int64_t b = 0; b < B; ++b) {
      double n = 0;
      for (std::int64_t t = 0; t < Tc; ++t) n += r.completion_mask.data()[b * Tc + t];
      len_sum += n;
      len_min = std::min(len_min, n);
      len_max = std::max(len_max, n);
      clipped += r.finish_reason[static_cast<std::size_t>(b)] == "length" ? 1.0 : 0.0;
    }
    rec["completions/mean_length"] = len_sum / static_cast<double>(B);
    rec["completions/min_length"] = len_min;
    rec["completions/max_length"] = len_max;
    rec["completions/clipped_ratio"] = clipped / static_cast<double>(B);
    if (a_.beta != 0.0) rec["kl"] = kl / micro_n;
    rec["clip_ratio/low_mean"] = low / micro_n;
    rec["clip_ratio/high_mean"] = high / micro_n;
    rec["clip_ratio/region_mean"] = region / micro_n;
    rec["num_tokens"] = tokens;
    rec["timing/rollout_s"] = rollout_s;
    rec["timing/reward_s"] = reward_s;
    rec["timing/train_s"] = train_s;
    return o;
  }

  // The training loop: logs (averaged over logging_steps) to logging.jsonl, completions.jsonl
  // with log_completions, a checkpoint every save_steps and at the end (rotated to
  // save_total_limit). With resume_from_checkpoint, continues that run in its folder.
  // throws: as step(); io_error / format_error / config_error for a checkpoint that cannot be
  // resumed (missing files, another geometry or seed).
  grpo_result train() {
    grpo_result res;
    std::int64_t start = 0;
    nlohmann::ordered_json sums, comp;
    std::int64_t since = 0;
    if (!a_.resume_from_checkpoint.empty()) {
      const std::filesystem::path dir = a_.resume_from_checkpoint;
      start = load_checkpoint(dir, res, sums, since, comp);
      res.run_dir = dir.parent_path();
    } else {
      res.run_dir = train::make_run_dir(a_.output_dir, a_.add_version);
    }
    run_dir_ = res.run_dir;
    if (start > 0) drop_records_after(start);
    {
      nlohmann::json j = a_.raw;
      j["max_steps_resolved"] = max_steps_;
      j["learning_rate"] = a_.learning_rate;
      io::atomic_write(run_dir_ / "args.json", [&](std::ostream& o) { o << j.dump(2) << "\n"; });
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t step = start; step < max_steps_; ++step) {
      auto o = this->step(step);
      ++since;
      for (auto it = o.record.begin(); it != o.record.end(); ++it) {
        const double v = it.value().template get<double>();
        sums[it.key()] = (sums.contains(it.key()) ? sums[it.key()].template get<double>() : 0.0) + v;
      }
      if (a_.log_completions && o.generated) append_completions(comp, step + 1, o.rollout);
      const std::int64_t global = step + 1;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!a_.quiet) std::cerr << "\r" << train::progress_bar("Train", global, max_steps_, elapsed) << std::flush;
      if (global == 1 || global % a_.logging_steps == 0 || global == max_steps_) {
        nlohmann::ordered_json rec;
        for (auto it = sums.begin(); it != sums.end(); ++it)
          rec[it.key()] = train::round8(it.value().template get<double>() / static_cast<double>(since));
        const double done = static_cast<double>(global - start);
        rec["epoch"] = train::round8(static_cast<double>(global) / static_cast<double>(steps_per_epoch_));
        rec["global_step/max_steps"] = std::to_string(global) + "/" + std::to_string(max_steps_);
        rec["percentage"] = train::percentage(global, max_steps_);
        rec["elapsed_time"] = train::format_duration(elapsed);
        rec["remaining_time"] = train::format_duration(elapsed / done * static_cast<double>(max_steps_ - global));
        res.log.push_back(rec);
        if (!a_.quiet) std::cout << "\n" << rec.dump() << std::endl;
        std::ofstream(run_dir_ / "logging.jsonl", std::ios::app)
            << rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (a_.log_completions && !comp.empty()) {
          std::ofstream(run_dir_ / "completions.jsonl", std::ios::app)
              << comp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
          comp = nlohmann::ordered_json();
        }
        sums = nlohmann::ordered_json();
        since = 0;
      }
      if (global % a_.save_steps == 0 || global == max_steps_) res.last_checkpoint = save_checkpoint(global, res, sums, since, comp);
    }
    if (!a_.quiet) std::cerr << "\n";
    return res;
  }

 private:
  using prepared_t = typename Pipeline::prepared;

  std::int64_t pad_id() const { return pipe_.tok().pad_token_id() >= 0 ? pipe_.tok().pad_token_id() : 0; }
  std::vector<std::int64_t> stop_ids() const {
    auto ids = pipe_.defaults().stop_token_ids;
    const std::int64_t im_end = pipe_.tok().token_to_id("<|im_end|>");
    if (ids.empty() && im_end >= 0) ids.push_back(im_end);
    return ids;
  }
  std::string first_bad_param() const {
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (params_[i]->grad.defined())
        for (float x : params_[i]->grad.to_vector())
          if (!std::isfinite(x)) return "; first non-finite gradient in '" + names_[i] + "'";
    return "";
  }

  grpo_rollout rollout_items(const std::vector<std::size_t>& rows, const std::vector<prepared_t>& items, std::int64_t generation_index,
                             double* reward_seconds) {
    std::vector<const prepared_t*> per_row;
    for (const auto& it : items)
      for (int g = 0; g < a_.num_generations; ++g) per_row.push_back(&it);
    auto prompt = build_batch(per_row, nullptr);
    generate::generation_config gen;
    gen.max_new_tokens = a_.max_completion_length;
    gen.sampling.do_sample = true;
    gen.sampling.temperature = a_.temperature;
    gen.sampling.top_p = a_.top_p;
    gen.sampling.top_k = a_.top_k;
    gen.stop_token_ids = stop_ids();
    gen.pad_token_id = pad_id();
    gen.seed = detail::mix64(a_.seed, static_cast<std::uint64_t>(generation_index) + 1);
    auto res = generate::generate_tokens(model_, prompt.inputs, gen);
    auto r = assemble(rows, per_row, res.tokens, res.finish_reason);
    const auto tr = std::chrono::steady_clock::now();
    std::vector<reward_input> in;
    for (std::size_t i = 0; i < r.completions.size(); ++i) {
      const auto& row = train_[r.row_index[i]];
      in.push_back({r.completions[i], row.solution, &row.columns});
    }
    auto rs = rewards_(in);
    r.rewards_per_func = std::move(rs.per_func);
    r.rewards = std::move(rs.total);
    r.advantages = group_advantages(std::span<const double>(r.rewards), a_.num_generations, a_.scale);
    if (reward_seconds) *reward_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tr).count();
    return r;
  }

  std::vector<prepared_t> prepare_rows(const std::vector<std::size_t>& rows) const {
    std::vector<prepared_t> items;
    for (auto i : rows) items.push_back(pipe_.prepare(train_[i].prompt));
    return items;
  }

  struct built_batch {
    qwen2_5_vl::model_inputs<float, cpu> inputs;  // [B, L + Tc]
    std::int64_t prompt_length = 0;
    tensor<std::int64_t, cpu> completion_ids;     // [B, Tc]
    tensor<float, cpu> completion_mask;           // [B, Tc]
  };
  // One row per prompt pointer: the prompt left-padded to the longest, then (with completions)
  // the completion right-padded to the longest (at least 1 column); images in row order.
  built_batch build_batch(const std::vector<const prepared_t*>& prompts, const std::vector<std::vector<std::int64_t>>* completions) const {
    const std::int64_t pad = pad_id(), B = static_cast<std::int64_t>(prompts.size());
    std::int64_t L = 0, Tc = 0;
    for (auto* p : prompts) L = std::max<std::int64_t>(L, static_cast<std::int64_t>(p->ids.size()));
    if (completions) {
      Tc = 1;
      for (const auto& t : *completions) Tc = std::max<std::int64_t>(Tc, static_cast<std::int64_t>(t.size()));
    }
    const std::int64_t S = L + Tc;
    built_batch out;
    out.prompt_length = L;
    out.inputs.input_ids = tensor<std::int64_t, cpu>::full({B, S}, pad);
    out.inputs.attention_mask = tensor<std::int64_t, cpu>::zeros({B, S});
    if (completions) {
      out.completion_ids = tensor<std::int64_t, cpu>::full({B, Tc}, pad);
      out.completion_mask = tensor<float, cpu>::zeros({B, Tc});
    }
    std::vector<float> pixels;
    std::int64_t cols = 0;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& it = *prompts[static_cast<std::size_t>(b)];
      const auto off = L - static_cast<std::int64_t>(it.ids.size());
      for (std::size_t k = 0; k < it.ids.size(); ++k) {
        out.inputs.input_ids.data()[b * S + off + static_cast<std::int64_t>(k)] = it.ids[k];
        out.inputs.attention_mask.data()[b * S + off + static_cast<std::int64_t>(k)] = 1;
      }
      if (completions) {
        const auto& toks = (*completions)[static_cast<std::size_t>(b)];
        for (std::size_t k = 0; k < toks.size(); ++k) {
          const auto t = static_cast<std::int64_t>(k);
          out.completion_ids.data()[b * Tc + t] = toks[k];
          out.completion_mask.data()[b * Tc + t] = 1.f;
          out.inputs.input_ids.data()[b * S + L + t] = toks[k];
          out.inputs.attention_mask.data()[b * S + L + t] = 1;
        }
      }
      if (it.has_images) {
        auto v = it.images.pixel_values.to_vector();
        pixels.insert(pixels.end(), v.begin(), v.end());
        cols = it.images.pixel_values.size(1);
        out.inputs.image_grids.insert(out.inputs.image_grids.end(), it.images.grids.begin(), it.images.grids.end());
      }
    }
    if (!pixels.empty())
      out.inputs.pixel_values = tensor<float, cpu>::from_host({static_cast<std::int64_t>(pixels.size()) / cols, cols}, pixels);
    return out;
  }

  // The generation batch's rollout without rewards: sequences, masks, prompt and completion texts.
  grpo_rollout assemble(const std::vector<std::size_t>& rows, const std::vector<const prepared_t*>& per_row,
                        const std::vector<std::vector<std::int64_t>>& tokens, const std::vector<std::string>& finish_reason) const {
    const auto G = static_cast<std::size_t>(a_.num_generations);
    auto built = build_batch(per_row, &tokens);
    grpo_rollout r;
    r.inputs = std::move(built.inputs);
    r.prompt_length = built.prompt_length;
    r.completion_ids = std::move(built.completion_ids);
    r.completion_mask = std::move(built.completion_mask);
    r.finish_reason = finish_reason;
    const auto stops = stop_ids();
    for (std::size_t b = 0; b < per_row.size(); ++b) {
      const std::size_t row = rows[b / G];
      r.row_index.push_back(row);
      r.prompts.push_back(tokenizer::render_chat(train_[row].prompt, true));
      const auto& toks = tokens[b];
      std::vector<std::int32_t> text_ids;
      for (std::size_t k = 0; k < toks.size(); ++k) {
        const bool stop = std::find(stops.begin(), stops.end(), toks[k]) != stops.end();
        if (!(stop && k + 1 == toks.size())) text_ids.push_back(static_cast<std::int32_t>(toks[k]));
      }
      r.completions.push_back(pipe_.tok().decode(text_ids, /*skip_special=*/true));
    }
    return r;
  }

  // Completion tokens of every row of a rollout (its mask's extent).
  static std::vector<std::vector<std::int64_t>> completion_tokens(const grpo_rollout& r) {
    const std::int64_t B = r.completion_ids.size(0), Tc = r.completion_ids.size(1);
    std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t t = 0; t < Tc && r.completion_mask.data()[b * Tc + t] != 0.f; ++t)
        out[static_cast<std::size_t>(b)].push_back(r.completion_ids.data()[b * Tc + t]);
    return out;
  }

  // Cuts the rollout into GA micro-batches; with compute_logps, their reference (beta != 0) and
  // old (num_iterations > 1) log-probs without a tape, under the current weights.
  std::vector<grpo_micro_batch> make_micro_batches(const grpo_rollout& r, const std::vector<prepared_t>& items, bool compute_logps) {
    const auto tokens = completion_tokens(r);
    const std::int64_t Bm = a_.per_device_train_batch_size, G = a_.num_generations;
    std::vector<grpo_micro_batch> out;
    for (std::int64_t k = 0; k < a_.gradient_accumulation_steps; ++k) {
      grpo_micro_batch mb;
      mb.first = k * Bm;
      std::vector<const prepared_t*> per_row;
      std::vector<std::vector<std::int64_t>> toks;
      std::vector<float> adv;
      for (std::int64_t b = mb.first; b < mb.first + Bm; ++b) {
        per_row.push_back(&items[static_cast<std::size_t>(b / G)]);
        toks.push_back(tokens[static_cast<std::size_t>(b)]);
        adv.push_back(static_cast<float>(r.advantages.advantages[static_cast<std::size_t>(b)]));
      }
      auto built = build_batch(per_row, &toks);
      mb.inputs = std::move(built.inputs);
      mb.prompt_length = built.prompt_length;
      mb.completion_ids = std::move(built.completion_ids);
      mb.completion_mask = std::move(built.completion_mask);
      mb.advantages = tensor<float, cpu>::from_host({Bm}, adv);
      if (compute_logps) {
        no_grad ng;
        if (a_.num_iterations > 1)
          mb.old_logps = completion_logps(ng, model_, mb.inputs, mb.prompt_length, mb.completion_ids, a_.temperature);
        if (a_.beta != 0.0) {
          detail::adapters_off<Model> off(model_);
          mb.ref_logps = completion_logps(ng, model_, mb.inputs, mb.prompt_length, mb.completion_ids, a_.temperature);
        }
      }
      out.push_back(std::move(mb));
    }
    return out;
  }

  std::unique_ptr<grpo_generation> make_generation(std::int64_t index, double* reward_seconds) {
    auto g = std::make_unique<grpo_generation>();
    g->index = index;
    g->rows = generation_rows(index);
    const auto items = prepare_rows(g->rows);
    g->rollout = rollout_items(g->rows, items, index, reward_seconds);
    g->micro = make_micro_batches(g->rollout, items, /*compute_logps=*/true);
    return g;
  }

  void append_completions(nlohmann::ordered_json& c, std::int64_t global, const grpo_rollout& r) {
    auto push = [&](const std::string& key, nlohmann::ordered_json v) {
      if (!c.contains(key)) c[key] = nlohmann::ordered_json::array();
      c[key].push_back(std::move(v));
    };
    for (std::size_t i = 0; i < r.completions.size(); ++i) {
      push("step", global);
      push("prompt", r.prompts[i]);
      push("completion", r.completions[i]);
      for (std::size_t k = 0; k < rewards_.names().size(); ++k) {
        const double v = r.rewards_per_func[k][i];
        push(rewards_.names()[k], std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v));
      }
      push("advantages", r.advantages.advantages[i]);
      push("solution", train_[r.row_index[i]].solution);
    }
  }

  // What must match between a checkpoint and this run for an exact continuation.
  nlohmann::ordered_json geometry() const {
    return {{"per_device_train_batch_size", a_.per_device_train_batch_size},
            {"gradient_accumulation_steps", a_.gradient_accumulation_steps},
            {"num_generations", a_.num_generations},
            {"num_iterations", a_.num_iterations},
            {"dataset_rows", train_.size()},
            {"seed", a_.seed}};
  }

  std::filesystem::path save_checkpoint(std::int64_t global, const grpo_result& res, const nlohmann::ordered_json& sums,
                                        std::int64_t since, const nlohmann::ordered_json& comp) {
    train::checkpoint_writer w(run_dir_, global);
    train::save_trained_weights(w.tmp, model_, a_.train_type, a_.lora, a_.targets,
                                a_.raw.is_object() ? a_.raw.value("model", std::string()) : std::string());
    train::save_optimizer_state(w.tmp, *opt_, names_);
    // Mid-way through a generation batch: keep it, old log-probs included, for the next steps.
    const bool buffered = global % a_.num_iterations != 0 && gen_ && gen_->index == global / a_.num_iterations;
    if (buffered) save_generation(w.tmp, *gen_);
    nlohmann::ordered_json st{{"global_step", global}, {"max_steps", max_steps_}, {"log_history", res.log},
                              {"train_type", a_.train_type}, {"seed", a_.seed}, {"geometry", geometry()},
                              {"data", {{"epoch", global / steps_per_epoch_},
                                        {"next_generation", (global + a_.num_iterations - 1) / a_.num_iterations},
                                        {"generation_in_epoch", (global / a_.num_iterations) % generations_per_epoch_}}},
                              {"rng", {{"rollout_seed", "splitmix(seed, generation + 1)"},
                                       {"dropout_seed", "seed * 1000003 + step * GA + micro"}}},
                              {"buffered_generation", buffered ? nlohmann::ordered_json(gen_->index) : nlohmann::ordered_json(nullptr)},
                              {"log_accumulator", {{"steps", since}, {"sums", sums}}},
                              {"pending_completions", comp}};
    io::atomic_write(w.tmp / "trainer_state.json", [&](std::ostream& o) { o << st.dump(2) << "\n"; });
    const auto final_dir = w.commit();
    saved_.push_back(final_dir);
    train::rotate_checkpoints(saved_, a_.save_total_limit, /*best=*/{}, final_dir);
    return final_dir;
  }

  void save_generation(const std::filesystem::path& dir, const grpo_generation& g) const {
    const auto& r = g.rollout;
    nlohmann::json j{{"index", g.index}, {"rows", g.rows}, {"completion_tokens", completion_tokens(r)},
                     {"finish_reason", r.finish_reason}, {"rewards", detail::doubles_to_json(r.rewards)}};
    j["rewards_per_func"] = nlohmann::json::array();
    for (const auto& f : r.rewards_per_func) j["rewards_per_func"].push_back(detail::doubles_to_json(f));
    io::atomic_write(dir / "generation.json", [&](std::ostream& o) { o << j.dump() << "\n"; });
    std::vector<io::tensor_ref> refs;
    for (std::size_t k = 0; k < g.micro.size(); ++k) {
      if (g.micro[k].old_logps.defined()) refs.push_back(io::tensor_ref::of("old_logps." + std::to_string(k), g.micro[k].old_logps));
      if (g.micro[k].ref_logps.defined()) refs.push_back(io::tensor_ref::of("ref_logps." + std::to_string(k), g.micro[k].ref_logps));
    }
    if (!refs.empty()) io::save_safetensors(dir / "generation.safetensors", std::move(refs), {{"format", "pt"}});
  }

  // Rebuilds a buffered generation batch from its rows and completion tokens; rewards and the
  // tape-free log-probs are read back (not recomputed: the weights have moved since).
  std::unique_ptr<grpo_generation> load_generation(const std::filesystem::path& dir) {
    const auto file = dir / "generation.json";
    std::ifstream in(file);
    if (!in) fail<io_error>("[grpo] cannot resume: '", file.string(), "' not found (the checkpoint is mid-way through a generation batch)");
    const auto j = nlohmann::json::parse(in);
    auto g = std::make_unique<grpo_generation>();
    g->index = j["index"].get<std::int64_t>();
    g->rows = j["rows"].get<std::vector<std::size_t>>();
    const auto items = prepare_rows(g->rows);
    std::vector<const prepared_t*> per_row;
    for (const auto& it : items)
      for (int k = 0; k < a_.num_generations; ++k) per_row.push_back(&it);
    g->rollout = assemble(g->rows, per_row, j["completion_tokens"].get<std::vector<std::vector<std::int64_t>>>(),
                          j["finish_reason"].get<std::vector<std::string>>());
    auto& r = g->rollout;
    r.rewards = detail::doubles_from_json(j["rewards"]);
    for (const auto& f : j["rewards_per_func"]) r.rewards_per_func.push_back(detail::doubles_from_json(f));
    r.advantages = group_advantages(std::span<const double>(r.rewards), a_.num_generations, a_.scale);
    g->micro = make_micro_batches(r, items, /*compute_logps=*/false);
    if (a_.num_iterations > 1 || a_.beta != 0.0) {
      auto f = io::safetensors_file::open(dir / "generation.safetensors");
      for (std::size_t k = 0; k < g->micro.size(); ++k) {
        if (a_.num_iterations > 1) g->micro[k].old_logps = f.get_as<float>("old_logps." + std::to_string(k)).clone();
        if (a_.beta != 0.0) g->micro[k].ref_logps = f.get_as<float>("ref_logps." + std::to_string(k)).clone();
      }
    }
    return g;
  }

  // Restores the optimizer, the log history and accumulators and a buffered generation batch;
  // returns the checkpoint's global step.
  std::int64_t load_checkpoint(const std::filesystem::path& dir, grpo_result& res, nlohmann::ordered_json& sums, std::int64_t& since,
                               nlohmann::ordered_json& comp) {
    const auto st = train::read_trainer_state(dir, "grpo");
    const auto want = geometry();
    for (auto it = want.begin(); it != want.end(); ++it) {
      const auto have = st.contains("geometry") ? st["geometry"].value(it.key(), nlohmann::ordered_json()) : nlohmann::ordered_json();
      VLM_CHECK_AS(config_error, have == it.value(), "[grpo] cannot resume from '", dir.string(), "': ", it.key(),
                   " was ", have.dump(), " there, ", it.value().dump(), " now. Hint: resume with the arguments of that run");
    }
    VLM_CHECK_AS(config_error, st.value("train_type", std::string()) == a_.train_type, "[grpo] cannot resume from '", dir.string(),
                 "': train_type was ", st.value("train_type", std::string()), " there, ", a_.train_type, " now");
    train::load_optimizer_state(dir, *opt_, names_);
    for (const auto& rec : st["log_history"]) res.log.push_back(rec);
    since = st["log_accumulator"]["steps"].get<std::int64_t>();
    sums = st["log_accumulator"]["sums"];
    comp = st.value("pending_completions", nlohmann::ordered_json());
    if (comp.is_null()) comp = nlohmann::ordered_json();
    if (!st["buffered_generation"].is_null()) gen_ = load_generation(dir);
    saved_ = train::list_checkpoints(dir.parent_path());
    return st["global_step"].get<std::int64_t>();
  }

  // A killed run may have logged past its last checkpoint: those records are redone.
  void drop_records_after(std::int64_t global) const {
    auto keep_log = [&](const nlohmann::json& j) {
      const auto s = j.value("global_step/max_steps", std::string());
      return s.empty() || std::stoll(s.substr(0, s.find('/'))) <= global;
    };
    auto keep_comp = [&](const nlohmann::json& j) {
      return !j.contains("step") || !j["step"].is_array() || j["step"].empty() || j["step"][0].get<std::int64_t>() <= global;
    };
    train::filter_jsonl(run_dir_ / "logging.jsonl", keep_log);
    train::filter_jsonl(run_dir_ / "completions.jsonl", keep_comp);
  }

  Pipeline& pipe_;
  Model& model_;
  grpo_args a_;
  std::vector<grpo_row> train_;
  reward_set rewards_;
  std::vector<parameter<float, cpu>*> params_;
  std::vector<std::string> names_;
  std::unique_ptr<train::adamw<float>> opt_;
  train::lr_schedule sched_;
  tape<float, cpu> tape_;
  std::int64_t prompts_per_generation_ = 1, generations_per_epoch_ = 1, steps_per_epoch_ = 1, max_steps_ = 1;
  std::vector<std::int64_t> perm_;
  std::int64_t perm_epoch_ = -1;
  std::unique_ptr<grpo_generation> gen_;
  std::filesystem::path run_dir_;
  std::vector<std::filesystem::path> saved_;
};

}  // namespace vlm::rl
