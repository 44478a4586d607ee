// Batched generation for Qwen2.5-VL-style models: one prefill over the left-padded prompts
// (images included), then one token per row per step with a KV cache.
//   Positions: prefill uses get_rope_index; decode step c (sequence index) uses c + delta on all
//   three M-RoPE axes (spec 5.6). The causal mask uses sequence indices; padding keys are masked.
//   Stopping: a row stops at a stop/eos id (kept in its output) or when the `stop` callback
//   says so (stop strings, decided by the caller with a detokenizer); finished rows are fed the
//   pad id until every row is done, as HF does. max_new_tokens bounds each row.
// on_token(row, id) is called for every new token (streaming).
#pragma once
#include <chrono>
#include <functional>
#include <random>

#include "vlm/generate/kv_cache.hpp"
#include "vlm/generate/sampling.hpp"
#include "vlm/models/qwen2_5_vl/model.hpp"

namespace vlm::generate {

struct generation_config {
  std::int64_t max_new_tokens = 512;
  sampling_params sampling;
  std::vector<std::int64_t> stop_token_ids;  // eos ids from generation_config.json go here too
  std::int64_t pad_token_id = 151643;
  std::uint64_t seed = 0;
};

struct generation_result {
  std::vector<std::vector<std::int64_t>> tokens;  // new tokens per row (stop id included)
  std::vector<std::string> finish_reason;         // "stop" or "length"
  std::vector<std::vector<float>> step_logits;    // [steps][B*V] raw logits, if asked
  double prefill_ms = 0, decode_ms = 0, vision_ms = 0;
  std::int64_t prompt_tokens = 0;
};

struct generation_hooks {
  std::function<void(std::size_t row, std::int64_t token)> on_token;
  std::function<bool(std::size_t row, const std::vector<std::int64_t>& tokens)> stop;  // true: stop this row
  bool keep_step_logits = false;
};

namespace detail {
// key_valid [B, T]: prompt mask, then ones for every cached decode position.
inline tensor<std::uint8_t, cpu> key_valid(const tensor<std::int64_t, cpu>& prompt_mask, std::int64_t total) {
  const std::int64_t B = prompt_mask.size(0), L = prompt_mask.size(1);
  auto kv = tensor<std::uint8_t, cpu>::full({B, total}, 1);
  auto pm = prompt_mask.contiguous();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l) kv.data()[b * total + l] = pm.data()[b * L + l] != 0;
  return kv;
}
}  // namespace detail

template <class Model>
generation_result generate_tokens(const Model& model, const qwen2_5_vl::model_inputs<typename Model::value_type, cpu>& prompt,
                                  const generation_config& gen, const generation_hooks& hooks = {}) {
  using T = typename Model::value_type;
  using clock = std::chrono::steady_clock;
  const auto& tc = model.cfg.text;
  const std::int64_t B = prompt.input_ids.size(0), L = prompt.input_ids.size(1), V = tc.vocab_size;
  auto mask = prompt.attention_mask.defined() ? prompt.attention_mask.contiguous()
                                              : tensor<std::int64_t, cpu>::full({B, L}, 1);
  const std::int64_t capacity = L + gen.max_new_tokens;
  contiguous_kv_cache<T, cpu> cache(tc.num_hidden_layers, B, capacity, tc.num_key_value_heads, tc.head_dim());
  std::mt19937_64 rng(gen.seed);
  generation_result r;
  r.tokens.assign(static_cast<std::size_t>(B), {});
  r.finish_reason.assign(static_cast<std::size_t>(B), "length");
  r.prompt_tokens = L;
  std::vector<bool> done(static_cast<std::size_t>(B), false);

  // Repetition-penalty context per row (see sampling.hpp for the two semantics).
  auto ids = prompt.input_ids.contiguous();
  std::vector<std::vector<std::int64_t>> context(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l)
      if (gen.sampling.semantics == sampling_semantics::hf || mask.data()[b * L + l] != 0)
        context[static_cast<std::size_t>(b)].push_back(ids.data()[b * L + l]);

  no_grad ctx;
  auto t0 = clock::now();
  // ---- prefill ----
  tensor<T, cpu> image_embeds;
  auto tv0 = clock::now();
  auto embeds = model.embed(ctx, prompt, &image_embeds);
  r.vision_ms = prompt.image_grids.empty() ? 0 : std::chrono::duration<double, std::milli>(clock::now() - tv0).count();
  auto positions = qwen2_5_vl::get_rope_index(prompt.input_ids, prompt.image_grids, mask, model.cfg);
  attention_mask am;
  am.causal = true;
  am.q_offset = 0;
  am.key_valid = detail::key_valid(mask, L);
  auto hidden = model.language.forward(ctx, embeds, model.text_rope(positions.position_ids), am, &cache);
  auto last = hidden.narrow(1, L - 1, 1).contiguous();  // [B, 1, C]
  auto logits = cast<float>(model.logits(ctx, last));   // [B, 1, V]
  r.prefill_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

  auto t1 = clock::now();
  for (std::int64_t step = 0; step < gen.max_new_tokens; ++step) {
    if (hooks.keep_step_logits) r.step_logits.push_back(logits.to_vector());
    // ---- choose the next token of every unfinished row ----
    std::vector<std::int64_t> next(static_cast<std::size_t>(B), gen.pad_token_id);
    for (std::int64_t b = 0; b < B; ++b) {
      auto ub = static_cast<std::size_t>(b);
      if (done[ub]) {
        context[ub].push_back(gen.pad_token_id);  // HF keeps appending pads to finished rows
        continue;
      }
      std::span<float> row(logits.data() + b * V, static_cast<std::size_t>(V));
      next[ub] = sample_next(row, context[ub], r.tokens[ub], gen.sampling, rng);
      r.tokens[ub].push_back(next[ub]);
      if (gen.sampling.semantics == sampling_semantics::hf) context[ub].push_back(next[ub]);
      if (hooks.on_token) hooks.on_token(ub, next[ub]);
      bool stop_id = std::find(gen.stop_token_ids.begin(), gen.stop_token_ids.end(), next[ub]) != gen.stop_token_ids.end();
      if (stop_id || (hooks.stop && hooks.stop(ub, r.tokens[ub]))) {
        done[ub] = true;
        r.finish_reason[ub] = "stop";
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }) || step + 1 == gen.max_new_tokens) break;
    // ---- one decode step: the new tokens at sequence index c = cache length ----
    const std::int64_t c = cache.length();
    qwen2_5_vl::model_inputs<T, cpu> step_in;
    step_in.input_ids = tensor<std::int64_t, cpu>::from_host({B, 1}, next);
    auto step_embeds = model.embed(ctx, step_in, nullptr, /*strict=*/false);
    auto pos = tensor<std::int64_t, cpu>::empty({3, B, 1});
    for (int a = 0; a < 3; ++a)
      for (std::int64_t b = 0; b < B; ++b) pos.data()[a * B + b] = c + positions.rope_deltas[static_cast<std::size_t>(b)];
    attention_mask dm;
    dm.causal = true;
    dm.q_offset = c;
    dm.key_valid = detail::key_valid(mask, c + 1);
    auto h = model.language.forward(ctx, step_embeds, model.text_rope(pos), dm, &cache);
    logits = cast<float>(model.logits(ctx, h));
  }
  r.decode_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
  return r;
}

}  // namespace vlm::generate
