// GRPO training (TRL GRPOTrainer / `swift rlhf --rlhf_type grpo`, spec section 4) on the CPU
// backend with LoRA (or full) training, one generation batch per optimizer step:
//   1. rollout: every prompt of the step is repeated num_generations (G) times, consecutively, in
//      one left-padded batch; generate_tokens samples (temperature, top_p, top_k) with the live
//      adapters, max_completion_length new tokens, a seed derived from (seed, step).
//   2. rewards: completions are decoded (special tokens skipped, so the stop id is dropped), each
//      configured reward function scores them with the row's columns (solution, ...), the
//      weighted nansum is the reward; group_advantages (scale_rewards group by default).
//   3. loss: sequences [B, L + Tc] = left-padded prompt + right-padded completion; the completion
//      mask covers the generated tokens up to and including the stop id. The policy runs on a
//      tape over the whole sequences (with the prompts' images); logits at position t predict
//      token t + 1, so the completion log-probs come from positions L - 1 .. L + Tc - 2, scaled by
//      1 / temperature (spec 4.3). Reference log-probs: the same model with adapters switched off
//      (no_grad), only when beta != 0. Old log-probs = the detached current ones (num_iterations
//      = 1, steps_per_generation = 1: rho = 1). grpo_loss, backward, clip_grad_norm, AdamW.
//   4. metrics (ms-swift 3.12 names, spec 4.6) in one ordered_json per step; train() averages
//      them over logging_steps, appends them to logging.jsonl and, with log_completions, writes
//      completions.jsonl (ms-swift layout: parallel lists per log event).
// Limitations (config_error when asked for): gradient_accumulation_steps = 1, num_iterations = 1,
// no vLLM, no resume. per_device_train_batch_size counts completions (TRL/ms-swift), so each step
// uses per_device_train_batch_size / num_generations distinct prompts. Reward names in the
// metrics are the registry names (ms-swift uses the class names, e.g. `Format`).
// Rows: like SFT rows (query/response/image_path or messages); the reward's `solution` is the
// row's "solution" column, or its "response" (the reference answer) when there is none. A
// `messages` row need not end with an assistant turn.
#pragma once
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <sstream>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "vlm/train/run_dir.hpp"
#include "vlm/autograd/ops.hpp"
#include "vlm/generate/generate.hpp"
#include "vlm/io/atomic_file.hpp"
#include "vlm/rl/advantages.hpp"
#include "vlm/rl/grpo_loss.hpp"
#include "vlm/rl/rewards.hpp"
#include "vlm/train/lora_model.hpp"
#include "vlm/train/lr_schedule.hpp"
#include "vlm/train/optim/adamw.hpp"
#include "vlm/train/peft.hpp"
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

inline std::vector<grpo_row> read_grpo_jsonl(const std::filesystem::path& path, const std::string& default_system) {
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
    rows.push_back(parse_grpo_row(j, where, default_system));
  }
  return rows;
}

struct grpo_args {
  std::string train_type = "lora";
  train::lora_config lora{8, 32.f, 0.05f, false};
  train::lora_targets targets;
  std::int64_t max_steps = -1;
  double num_train_epochs = 1;
  std::int64_t per_device_train_batch_size = 8;  // completions per step (a multiple of num_generations)
  std::int64_t gradient_accumulation_steps = 1;  // only 1 for now
  int num_generations = 8;
  int num_iterations = 1;  // only 1 for now
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
  std::int64_t logging_steps = 5, save_steps = 500;
  std::string output_dir = "output";
  bool add_version = true;
  bool log_completions = false;
  std::uint64_t seed = 42;
  std::string system;
  bool quiet = false;
  nlohmann::json raw;  // the command line's arguments, written to args.json
};

// Everything one rollout produced (kept for logging and tests).
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

struct grpo_step_output {
  nlohmann::ordered_json record;  // this step's metrics
  grpo_rollout rollout;
  tensor<float, cpu> logps, ref_logps;  // [B, Tc] (ref undefined when beta = 0)
  double loss = 0, grad_norm = 0;
};

struct grpo_result {
  std::filesystem::path run_dir, last_checkpoint;
  std::vector<nlohmann::ordered_json> log;
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
}  // namespace detail

template <class Pipeline>
class grpo_trainer {
 public:
  using Model = std::decay_t<decltype(std::declval<Pipeline&>().model())>;

  // throws: config_error for unsupported settings, unknown rewards, bad geometry.
  grpo_trainer(Pipeline& pipe, Model& model, grpo_args args, std::vector<grpo_row> train)
      : pipe_(pipe), model_(model), a_(std::move(args)), train_(std::move(train)),
        rewards_(a_.reward_funcs, a_.reward_weights, a_.reward_opts) {
    VLM_CHECK_AS(config_error, !train_.empty(), "[grpo] the training set is empty");
    VLM_CHECK_AS(config_error, a_.num_generations >= 2, "[grpo] num_generations must be >= 2, got ", a_.num_generations);
    VLM_CHECK_AS(config_error, a_.per_device_train_batch_size > 0 && a_.per_device_train_batch_size % a_.num_generations == 0,
                 "[grpo] per_device_train_batch_size (", a_.per_device_train_batch_size,
                 ", counted in completions) must be a multiple of num_generations (", a_.num_generations, ")");
    VLM_CHECK_AS(config_error, a_.gradient_accumulation_steps == 1,
                 "[grpo] gradient_accumulation_steps > 1 is not supported yet (got ", a_.gradient_accumulation_steps, ")");
    VLM_CHECK_AS(config_error, a_.num_iterations == 1, "[grpo] num_iterations > 1 is not supported yet (got ",
                 a_.num_iterations, ")");
    VLM_CHECK_AS(config_error, a_.max_completion_length >= 1, "[grpo] max_completion_length must be >= 1");
    VLM_CHECK_AS(config_error, a_.temperature > 0.f, "[grpo] temperature must be > 0 (sampling), got ", a_.temperature);
    if (a_.learning_rate <= 0) a_.learning_rate = a_.train_type == "lora" ? 1e-4 : 1e-5;
    prompts_per_step_ = a_.per_device_train_batch_size / a_.num_generations;
    steps_per_epoch_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(train_.size()) / prompts_per_step_);  // drop_last
    max_steps_ = a_.max_steps > 0 ? a_.max_steps
                                  : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(a_.num_train_epochs * static_cast<double>(steps_per_epoch_))));
    sched_ = train::lr_schedule{a_.lr_scheduler_type, a_.learning_rate, max_steps_,
                                train::lr_schedule::warmup_from(a_.warmup_ratio, a_.warmup_steps, max_steps_)};
    if (a_.train_type == "lora") {
      train::attach_lora(model_, a_.lora, a_.targets, a_.seed);
      train::set_trainable(model_, train::train_type::lora);
    } else if (a_.train_type == "full") {
      VLM_CHECK_AS(config_error, a_.beta == 0.0,
                   "[grpo] full training with beta != 0 needs a separate reference model (not supported yet). Hint: --beta 0 or --train_type lora");
      train::set_trainable(model_, train::train_type::full, a_.targets);
    } else {
      fail<config_error>("[grpo] --train_type '", a_.train_type, "' unsupported (lora, full)");
    }
    model_.visit_params([&](const std::string& name, auto& p) {
      if constexpr (std::is_same_v<std::decay_t<decltype(p)>, parameter<float, cpu>>)
        if (p.requires_grad) {
          params_.push_back(&p);
          names_.push_back(name);
        }
    }, "");
    VLM_CHECK_AS(config_error, !params_.empty(), "[grpo] nothing to train (no trainable parameters)");
    opt_ = std::make_unique<train::adamw<float>>(params_, a_.adam);
  }

  std::int64_t max_steps() const { return max_steps_; }
  const grpo_args& args() const { return a_; }

  // Dataset rows of step `step` (0-based): a seeded permutation per epoch, drop_last.
  std::vector<std::size_t> step_rows(std::int64_t step) {
    const std::int64_t n = static_cast<std::int64_t>(train_.size());
    const std::int64_t epoch = step / steps_per_epoch_, in_epoch = step % steps_per_epoch_;
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
    for (std::int64_t k = 0; k < prompts_per_step_; ++k)
      rows.push_back(static_cast<std::size_t>(perm_[static_cast<std::size_t>((in_epoch * prompts_per_step_ + k) % n)]));
    return rows;
  }

  // Rollout + rewards + advantages for the given rows (no parameter change).
  grpo_rollout rollout(const std::vector<std::size_t>& rows, std::int64_t step, double* reward_seconds = nullptr) {
    const auto G = static_cast<std::size_t>(a_.num_generations);
    const auto& tok = pipe_.tok();
    const std::int64_t pad = pad_id();
    grpo_rollout r;
    std::vector<typename Pipeline::prepared> items;
    for (auto i : rows) items.push_back(pipe_.prepare(train_[i].prompt));
    std::size_t L = 0;
    for (auto& it : items) L = std::max(L, it.ids.size());
    const auto P = rows.size(), Bs = P * G;
    const auto B = static_cast<std::int64_t>(Bs), Ls = static_cast<std::int64_t>(L);
    qwen2_5_vl::model_inputs<float, cpu> prompt;
    prompt.input_ids = tensor<std::int64_t, cpu>::full({B, Ls}, pad);
    prompt.attention_mask = tensor<std::int64_t, cpu>::zeros({B, Ls});
    std::vector<float> pixels;
    std::int64_t cols = 0;
    for (std::size_t p = 0; p < P; ++p) {
      const auto& it = items[p];
      const std::string text = tokenizer::render_chat(train_[rows[p]].prompt, true);
      for (std::size_t g = 0; g < G; ++g) {
        const auto b = static_cast<std::int64_t>(p * G + g);
        const auto off = Ls - static_cast<std::int64_t>(it.ids.size());
        for (std::size_t k = 0; k < it.ids.size(); ++k) {
          prompt.input_ids.data()[b * Ls + off + static_cast<std::int64_t>(k)] = it.ids[k];
          prompt.attention_mask.data()[b * Ls + off + static_cast<std::int64_t>(k)] = 1;
        }
        if (it.has_images) {
          auto v = it.images.pixel_values.to_vector();
          pixels.insert(pixels.end(), v.begin(), v.end());
          cols = it.images.pixel_values.size(1);
          prompt.image_grids.insert(prompt.image_grids.end(), it.images.grids.begin(), it.images.grids.end());
        }
        r.prompts.push_back(text);
        r.row_index.push_back(rows[p]);
      }
    }
    if (!pixels.empty())
      prompt.pixel_values = tensor<float, cpu>::from_host({static_cast<std::int64_t>(pixels.size()) / cols, cols}, pixels);

    generate::generation_config gen;
    gen.max_new_tokens = a_.max_completion_length;
    gen.sampling.do_sample = true;
    gen.sampling.temperature = a_.temperature;
    gen.sampling.top_p = a_.top_p;
    gen.sampling.top_k = a_.top_k;
    gen.stop_token_ids = pipe_.defaults().stop_token_ids;
    const std::int64_t im_end = tok.token_to_id("<|im_end|>");
    if (gen.stop_token_ids.empty() && im_end >= 0) gen.stop_token_ids.push_back(im_end);
    gen.pad_token_id = pad;
    gen.seed = detail::mix64(a_.seed, static_cast<std::uint64_t>(step) + 1);
    auto res = generate::generate_tokens(model_, prompt, gen);

    std::int64_t Tc = 1;
    for (auto& t : res.tokens) Tc = std::max<std::int64_t>(Tc, static_cast<std::int64_t>(t.size()));
    r.prompt_length = Ls;
    r.completion_ids = tensor<std::int64_t, cpu>::full({B, Tc}, pad);
    r.completion_mask = tensor<float, cpu>::zeros({B, Tc});
    r.inputs.input_ids = tensor<std::int64_t, cpu>::full({B, Ls + Tc}, pad);
    r.inputs.attention_mask = tensor<std::int64_t, cpu>::zeros({B, Ls + Tc});
    r.inputs.pixel_values = prompt.pixel_values;
    r.inputs.image_grids = prompt.image_grids;
    r.finish_reason = res.finish_reason;
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t l = 0; l < Ls; ++l) {
        r.inputs.input_ids.data()[b * (Ls + Tc) + l] = prompt.input_ids.data()[b * Ls + l];
        r.inputs.attention_mask.data()[b * (Ls + Tc) + l] = prompt.attention_mask.data()[b * Ls + l];
      }
      const auto& toks = res.tokens[static_cast<std::size_t>(b)];
      std::vector<std::int32_t> text_ids;
      for (std::size_t k = 0; k < toks.size(); ++k) {
        const auto t = static_cast<std::int64_t>(k);
        r.completion_ids.data()[b * Tc + t] = toks[k];
        r.completion_mask.data()[b * Tc + t] = 1.f;
        r.inputs.input_ids.data()[b * (Ls + Tc) + Ls + t] = toks[k];
        r.inputs.attention_mask.data()[b * (Ls + Tc) + Ls + t] = 1;
        const bool stop = std::find(gen.stop_token_ids.begin(), gen.stop_token_ids.end(), toks[k]) != gen.stop_token_ids.end();
        if (!(stop && k + 1 == toks.size())) text_ids.push_back(static_cast<std::int32_t>(toks[k]));
      }
      r.completions.push_back(tok.decode(text_ids, /*skip_special=*/true));
    }

    const auto tr = std::chrono::steady_clock::now();
    std::vector<reward_input> in;
    for (std::size_t i = 0; i < Bs; ++i) {
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

  // One optimizer step (0-based index): rollout, rewards, loss, update.
  grpo_step_output step(std::int64_t step) {
    using clock = std::chrono::steady_clock;
    grpo_step_output o;
    const auto t0 = clock::now();
    double reward_s = 0;
    o.rollout = rollout(step_rows(step), step, &reward_s);
    auto& r = o.rollout;
    const double rollout_s = std::chrono::duration<double>(clock::now() - t0).count() - reward_s;
    const auto t1 = clock::now();
    const std::int64_t B = r.completion_ids.size(0);
    if (a_.beta != 0.0) {
      detail::adapters_off<Model> off(model_);
      no_grad ng;
      o.ref_logps = completion_logps(ng, model_, r.inputs, r.prompt_length, r.completion_ids, a_.temperature);
    }
    tape_.clear();
    tape_.seed(a_.seed * 1000003ull + static_cast<std::uint64_t>(step));
    auto lp = completion_logps(tape_, model_, r.inputs, r.prompt_length, r.completion_ids, a_.temperature);
    auto adv = tensor<float, cpu>::from_host({B}, r.advantages.advantages);
    grpo_loss_options lo;
    lo.type = a_.loss;
    lo.epsilon = a_.epsilon;
    lo.epsilon_high = a_.epsilon_high;
    lo.delta = a_.delta;
    lo.beta = a_.beta;
    lo.max_completion_length = a_.max_completion_length;
    auto res = grpo_loss(tape_, lp, tensor<float, cpu>{}, o.ref_logps, adv, r.completion_mask, lo);
    o.loss = res.loss.item();
    if (!std::isfinite(o.loss)) fail<numeric_error>("[grpo] loss is ", o.loss, " at step ", step + 1, ". Hint: lower the learning rate");
    tape_.backward(res.loss);
    tape_.clear();
    o.logps = lp;
    o.logps.grad_slot = -1;  // the detached value
    o.grad_norm = opt_->clip_grad_norm(a_.max_grad_norm);
    if (!std::isfinite(o.grad_norm)) fail<numeric_error>("[grpo] grad_norm is ", o.grad_norm, " at step ", step + 1);
    opt_->step(static_cast<float>(sched_.at(step)));
    opt_->zero_grad();
    const double train_s = std::chrono::duration<double>(clock::now() - t1).count();

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
      for (std::int64_t t = 0; t < r.completion_mask.size(1); ++t) n += r.completion_mask.data()[b * r.completion_mask.size(1) + t];
      len_sum += n;
      len_min = std::min(len_min, n);
      len_max = std::max(len_max, n);
      clipped += r.finish_reason[static_cast<std::size_t>(b)] == "length" ? 1.0 : 0.0;
    }
    rec["completions/mean_length"] = len_sum / static_cast<double>(B);
    rec["completions/min_length"] = len_min;
    rec["completions/max_length"] = len_max;
    rec["completions/clipped_ratio"] = clipped / static_cast<double>(B);
    if (a_.beta != 0.0) rec["kl"] = res.metrics.kl;
    rec["clip_ratio/low_mean"] = res.metrics.clip_ratio_low;
    rec["clip_ratio/high_mean"] = res.metrics.clip_ratio_high;
    rec["clip_ratio/region_mean"] = res.metrics.clip_ratio_region;
    rec["num_tokens"] = res.metrics.num_tokens;
    rec["timing/rollout_s"] = rollout_s;
    rec["timing/reward_s"] = reward_s;
    rec["timing/train_s"] = train_s;
    return o;
  }

  // The training loop: logs (averaged over logging_steps) to logging.jsonl, completions.jsonl
  // with log_completions, the adapter (or full weights) every save_steps and at the end.
  grpo_result train() {
    namespace fs = std::filesystem;
    grpo_result res;
    res.run_dir = make_run_dir();
    run_dir_ = res.run_dir;
    {
      nlohmann::json j = a_.raw;
      j["max_steps_resolved"] = max_steps_;
      j["learning_rate"] = a_.learning_rate;
      io::atomic_write(run_dir_ / "args.json", [&](std::ostream& o) { o << j.dump(2) << "\n"; });
    }
    const auto t0 = std::chrono::steady_clock::now();
    nlohmann::ordered_json sums;
    std::int64_t since = 0;
    nlohmann::ordered_json comp;
    for (std::int64_t step = 0; step < max_steps_; ++step) {
      auto o = this->step(step);
      ++since;
      for (auto it = o.record.begin(); it != o.record.end(); ++it) {
        const double v = it.value().template get<double>();
        sums[it.key()] = (sums.contains(it.key()) ? sums[it.key()].template get<double>() : 0.0) + v;
      }
      if (a_.log_completions) append_completions(comp, step + 1, o.rollout);
      const std::int64_t global = step + 1;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!a_.quiet) std::cerr << "\r" << train::progress_bar("Train", global, max_steps_, elapsed) << std::flush;
      if (global == 1 || global % a_.logging_steps == 0 || global == max_steps_) {
        nlohmann::ordered_json rec;
        for (auto it = sums.begin(); it != sums.end(); ++it)
          rec[it.key()] = train::round8(it.value().template get<double>() / static_cast<double>(since));
        rec["epoch"] = train::round8(static_cast<double>(global) / static_cast<double>(steps_per_epoch_));
        rec["global_step/max_steps"] = std::to_string(global) + "/" + std::to_string(max_steps_);
        rec["percentage"] = train::percentage(global, max_steps_);
        rec["elapsed_time"] = train::format_duration(elapsed);
        rec["remaining_time"] = train::format_duration(elapsed / static_cast<double>(global) * static_cast<double>(max_steps_ - global));
        res.log.push_back(rec);
        if (!a_.quiet) std::cout << "\n" << rec.dump() << std::endl;
        std::ofstream(run_dir_ / "logging.jsonl", std::ios::app)
            << rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (a_.log_completions) {
          std::ofstream(run_dir_ / "completions.jsonl", std::ios::app)
              << comp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
          comp = nlohmann::ordered_json();
        }
        sums = nlohmann::ordered_json();
        since = 0;
      }
      if (global % a_.save_steps == 0 || global == max_steps_) res.last_checkpoint = save_checkpoint(global, res);
    }
    if (!a_.quiet) std::cerr << "\n";
    return res;
  }

 private:
  std::int64_t pad_id() const { return pipe_.tok().pad_token_id() >= 0 ? pipe_.tok().pad_token_id() : 0; }

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

  std::filesystem::path make_run_dir() { return train::make_run_dir(a_.output_dir, a_.add_version); }


  std::filesystem::path save_checkpoint(std::int64_t global, const grpo_result& res) {
    namespace fs = std::filesystem;
    const fs::path final_dir = run_dir_ / ("checkpoint-" + std::to_string(global));
    const fs::path tmp = run_dir_ / ("checkpoint-" + std::to_string(global) + ".tmp");
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    if (a_.train_type == "lora") {
      train::save_adapter(tmp, model_, a_.lora, a_.targets, a_.raw.is_object() ? a_.raw.value("model", std::string()) : std::string());
    } else {
      std::vector<io::tensor_ref> refs;
      model_.visit_params([&](const std::string& name, auto& p) { refs.push_back(io::tensor_ref::of(name, p.value)); }, "");
      io::save_safetensors(tmp / "model.safetensors", std::move(refs), {{"format", "pt"}});
      io::atomic_write(tmp / "config.json", [&](std::ostream& o) { o << model_.cfg.raw.dump(2) << "\n"; });
    }
    nlohmann::ordered_json st{{"global_step", global}, {"max_steps", max_steps_}, {"log_history", res.log},
                              {"train_type", a_.train_type}, {"seed", a_.seed}};
    io::atomic_write(tmp / "trainer_state.json", [&](std::ostream& o) { o << st.dump(2) << "\n"; });
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    return final_dir;
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
  std::int64_t prompts_per_step_ = 1, steps_per_epoch_ = 1, max_steps_ = 1;
  std::vector<std::int64_t> perm_;
  std::int64_t perm_epoch_ = -1;
  std::filesystem::path run_dir_;
};

}  // namespace vlm::rl
