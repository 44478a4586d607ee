// Next-token selection from one row of f32 logits, with Hugging Face or vLLM semantics.
//
// HF generate (LogitsProcessorList order): repetition_penalty over every id in the row's
// input_ids (prompt *including left padding* + generated) -> temperature -> top_k -> top_p ->
// min_p -> softmax -> multinomial.
// vLLM V1 (sampler.py): repetition_penalty over prompt (no padding) + output, presence and
// frequency penalties over output tokens only -> temperature (T < 0.01 raised to 0.01) ->
// min_p -> top_k -> top_p -> softmax -> sample.
// Both: repetition penalty divides positive logits by r and multiplies negative ones by r;
// top_k keeps every logit >= the k-th largest (ties survive); top_p drops tokens whose
// ascending cumulative probability is <= 1 - p, always keeping the largest; greedy (do_sample
// false, or temperature < 1e-5) is argmax after penalties (lowest id on ties).
// Sampling draws q_v ~ Exp(1) and takes argmax(p_v / q_v) (vLLM's exponential race; equal in
// distribution to a categorical draw), from a caller-owned seeded engine: reproducible.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace vlm::generate {

enum class sampling_semantics { hf, vllm };

struct sampling_params {
  bool do_sample = false;
  float temperature = 1.f;
  float top_p = 1.f;
  std::int64_t top_k = 0;  // 0 or negative: off
  float min_p = 0.f;
  float repetition_penalty = 1.f;
  float presence_penalty = 0.f;   // vLLM semantics only
  float frequency_penalty = 0.f;  // vLLM semantics only
  sampling_semantics semantics = sampling_semantics::hf;
};

// In place on logits [V]. `context`: the ids the repetition penalty sees (HF: the whole row
// incl. padding and output; vLLM: prompt without padding, plus output); `output`: generated ids.
inline void apply_penalties(std::span<float> logits, std::span<const std::int64_t> context,
                            std::span<const std::int64_t> output, const sampling_params& p) {
  const auto V = static_cast<std::int64_t>(logits.size());
  if (p.repetition_penalty != 1.f) {
    std::vector<bool> seen(logits.size(), false);
    auto penalise = [&](std::int64_t id) {
      if (id < 0 || id >= V || seen[static_cast<std::size_t>(id)]) return;
      seen[static_cast<std::size_t>(id)] = true;
      float& l = logits[static_cast<std::size_t>(id)];
      l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
    };
    for (auto id : context) penalise(id);
    if (p.semantics == sampling_semantics::vllm)
      for (auto id : output) penalise(id);
  }
  if (p.semantics == sampling_semantics::vllm && (p.presence_penalty != 0.f || p.frequency_penalty != 0.f)) {
    std::unordered_map<std::int64_t, int> counts;
    for (auto id : output) ++counts[id];
    for (auto [id, n] : counts) {
      if (id < 0 || id >= V) continue;
      logits[static_cast<std::size_t>(id)] -= p.frequency_penalty * static_cast<float>(n) + p.presence_penalty;
    }
  }
}

inline std::int64_t argmax(std::span<const float> x) {
  return static_cast<std::int64_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

namespace detail {
constexpr float neg_inf = -std::numeric_limits<float>::infinity();

inline void top_k_filter(std::span<float> x, std::int64_t k) {
  if (k <= 0 || k >= static_cast<std::int64_t>(x.size())) return;
  std::vector<float> v(x.begin(), x.end());
  std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
  const float kth = v[static_cast<std::size_t>(k - 1)];
  for (auto& l : x)
    if (l < kth) l = neg_inf;
}
inline std::vector<float> softmax(std::span<const float> x) {
  float m = *std::max_element(x.begin(), x.end());
  std::vector<float> p(x.size());
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (p[i] = std::exp(x[i] - m));
  for (auto& v : p) v = static_cast<float>(v / s);
  return p;
}
inline void top_p_filter(std::span<float> x, float top_p) {
  if (top_p >= 1.f) return;
  auto probs = softmax(x);
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  double cum = 0;
  for (std::size_t r = 0; r + 1 < order.size(); ++r) {  // the largest is always kept
    cum += probs[order[r]];
    if (cum <= 1.0 - top_p) x[order[r]] = neg_inf;
  }
}
inline void min_p_filter(std::span<float> x, float min_p) {
  if (min_p <= 0.f) return;
  auto probs = softmax(x);
  const float keep = min_p * *std::max_element(probs.begin(), probs.end());
  for (std::size_t i = 0; i < x.size(); ++i)
    if (probs[i] < keep) x[i] = neg_inf;
}
}  // namespace detail

// Picks the next token from logits [V] (modified in place). Engine: any std random engine.
template <class Engine>
std::int64_t sample_next(std::span<float> logits, std::span<const std::int64_t> context,
                         std::span<const std::int64_t> output, const sampling_params& p, Engine& rng) {
  apply_penalties(logits, context, output, p);
  if (!p.do_sample || p.temperature < 1e-5f) return argmax(logits);
  float t = p.temperature;
  if (p.semantics == sampling_semantics::vllm) t = std::max(t, 0.01f);
  for (auto& l : logits) l /= t;
  if (p.semantics == sampling_semantics::hf) {
    detail::top_k_filter(logits, p.top_k);
    detail::top_p_filter(logits, p.top_p);
    detail::min_p_filter(logits, p.min_p);
  } else {
    detail::min_p_filter(logits, p.min_p);
    detail::top_k_filter(logits, p.top_k);
    detail::top_p_filter(logits, p.top_p);
  }
  auto probs = detail::softmax(logits);
  std::exponential_distribution<float> exp1(1.f);
  std::int64_t best = 0;
  float best_score = -1.f;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.f) continue;
    float score = probs[i] / std::max(exp1(rng), 1e-30f);
    if (score > best_score) {
      best_score = score;
      best = static_cast<std::int64_t>(i);
    }
  }
  return best;
}

}  // namespace vlm::generate
