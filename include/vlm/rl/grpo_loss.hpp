// The GRPO objective of one micro-batch as a recorded op, and the per-token log-probs it reads.
//   per_token_logps(ctx, logits [B, T, V], ids [B, T], temperature) -> [B, T]
//       log_softmax(logits / temperature)[ids]  (TRL GRPOTrainer._get_per_token_logps +
//       selective_log_softmax; spec training_rl_serving.md 4.3). Backward:
//       dlogits = dy * (onehot(id) - softmax(logits / temperature)) / temperature.
//   grpo_loss(ctx, per_token_logps [B, T], old [B, T] | {}, ref [B, T] | {}, advantages [B],
//             completion_mask [B, T], options) -> {loss [1], metrics}
//       rho = exp(logp - old); rho_clip = clip(rho, 1 - eps, 1 + eps_high); (delta: rho = min(rho, delta))
//       L_t = -min(rho A, rho_clip A) + beta (exp(ref - logp) - (ref - logp) - 1)
//       normalised by loss_type (grpo | bnpo | dr_grpo | dapo, spec 4.5). Matches TRL 0.19.1
//       GRPOTrainer._compute_loss (and 0.22.2 for dapo) including the gradient at ties
//       (torch.min gives each side half; clamp passes the gradient on its bounds).
// Only per_token_logps gets a gradient: old, ref, advantages and the mask are constants.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/autograd/tape.hpp"              // tape, is_tape_v
#include "vlm/backends/cpu/thread_pool.hpp"   // cpu_detail::parallel_for
#include "vlm/core/error.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm::rl {

// ---- per-token log-probs ---------------------------------------------------------------------
namespace detail {
// Row of logits / temperature (f32, as torch divides an f32 tensor by a scalar): max and the
// log of sum(exp(x - max)) accumulated in double.
template <class T>
void scaled_row_lse(const T* x, std::int64_t V, float temperature, float* scaled, float& m, double& log_s) {
  m = -std::numeric_limits<float>::infinity();
  for (std::int64_t v = 0; v < V; ++v) {
    scaled[v] = temperature == 1.f ? static_cast<float>(x[v]) : static_cast<float>(x[v]) / temperature;
    m = std::max(m, scaled[v]);
  }
  double s = 0;
  for (std::int64_t v = 0; v < V; ++v) s += std::exp(static_cast<double>(scaled[v] - m));
  log_s = std::log(s);
}

struct logps_saved {
  tensor<std::int64_t, cpu> ids;
  float temperature;
};

template <class Tape>
void per_token_logps_backward(Tape& t, typename Tape::node& n) {
  using T = typename Tape::value_type;
  auto saved = std::static_pointer_cast<const logps_saved>(n.extra);
  const auto& logits = n.saved[0];
  const std::int64_t V = logits.size(-1), R = logits.numel() / V;
  const float temp = saved->temperature;
  auto dy = t.grad(n.out).contiguous();
  auto d = tensor<T, cpu>::empty(logits.shape());
  const T* x = logits.data();
  const std::int64_t* ids = saved->ids.data();
  cpu_detail::parallel_for(R, 4, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> buf(static_cast<std::size_t>(V));
    for (std::int64_t r = r0; r < r1; ++r) {
      float m;
      double log_s;
      scaled_row_lse(x + r * V, V, temp, buf.data(), m, log_s);
      const float k = static_cast<float>(dy.data()[r]) / temp;
      T* g = d.data() + r * V;
      for (std::int64_t v = 0; v < V; ++v) {
        const double p = std::exp(static_cast<double>(buf[static_cast<std::size_t>(v)] - m) - log_s);
        g[v] = convert<T>(static_cast<float>(k * ((v == ids[r] ? 1.0 : 0.0) - p)));
      }
    }
  });
  t.accumulate(n.in[0], d);
}
}  // namespace detail

// requires: logits [..., V] with V > 0, ids of logits' leading shape with values in [0, V),
//           temperature > 0 (the rollout temperature; 1 = plain log-softmax).
// ensures:  out[...] = log_softmax(logits[...] / temperature)[ids[...]], in T (f32 arithmetic);
//           recorded on a tape when logits are tracked.
// throws:   shape_error (shapes, id out of range), config_error (temperature <= 0).
template <class Ctx, class T>
tensor<T, cpu> per_token_logps(Ctx& ctx, const tensor<T, cpu>& logits, const tensor<std::int64_t, cpu>& ids,
                               float temperature = 1.f) {
  VLM_CHECK_AS(config_error, temperature > 0.f && std::isfinite(temperature), "[grpo] temperature must be > 0, got ",
               temperature);
  VLM_CHECK_AS(shape_error, logits.dim() >= 2 && logits.size(-1) > 0 && ids.dim() == logits.dim() - 1,
               "[grpo] per_token_logps needs logits [B, T, V] and ids [B, T], got ", logits.shape().str(), " and ",
               ids.shape().str());
  for (int d = 0; d < ids.dim(); ++d)
    VLM_CHECK_AS(shape_error, ids.size(d) == logits.size(d), "[grpo] per_token_logps: logits ", logits.shape().str(),
                 " do not match ids ", ids.shape().str());
  auto lc = logits.contiguous();
  auto ic = ids.contiguous();
  const std::int64_t V = logits.size(-1), R = ic.numel();
  for (std::int64_t r = 0; r < R; ++r)
    VLM_CHECK_AS(shape_error, ic.data()[r] >= 0 && ic.data()[r] < V, "[grpo] token id ", ic.data()[r], " at position ",
                 r, " is outside the vocabulary [0, ", V, ")");
  auto out = tensor<T, cpu>::empty(ids.shape());
  cpu_detail::parallel_for(R, 4, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> buf(static_cast<std::size_t>(V));
    for (std::int64_t r = r0; r < r1; ++r) {
      float m;
      double log_s;
      detail::scaled_row_lse(lc.data() + r * V, V, temperature, buf.data(), m, log_s);
      // (x - m) - log(s): see backends/cpu/softmax.hpp on why not x - (m + log s).
      out.data()[r] = convert<T>((buf[static_cast<std::size_t>(ic.data()[r])] - m) - static_cast<float>(log_s));
    }
  });
  if constexpr (is_tape_v<Ctx>) {
    if (logits.grad_slot >= 0) {
      auto& n = ctx.record(&detail::per_token_logps_backward<Ctx>);
      n.saved[0] = lc;
      n.extra = std::make_shared<const detail::logps_saved>(detail::logps_saved{ic, temperature});
      n.in[0] = logits.grad_slot;
      out.grad_slot = n.out = ctx.new_slot(out.shape());
    }
  }
  return out;
}

// ---- the GRPO loss -----------------------------------------------------------------------------
enum class loss_type { grpo, bnpo, dr_grpo, dapo };

// throws: config_error naming the accepted values.
inline loss_type parse_loss_type(std::string_view s) {
  if (s == "grpo") return loss_type::grpo;
  if (s == "bnpo") return loss_type::bnpo;
  if (s == "dr_grpo") return loss_type::dr_grpo;
  if (s == "dapo") return loss_type::dapo;
  fail<config_error>("[grpo] loss_type '", s, "' is not one of: grpo, bnpo, dr_grpo, dapo");
}
inline const char* to_string(loss_type t) {
  switch (t) {
    case loss_type::grpo: return "grpo";
    case loss_type::bnpo: return "bnpo";
    case loss_type::dr_grpo: return "dr_grpo";
    case loss_type::dapo: return "dapo";
  }
  return "?";
}

// Defaults are ms-swift 3.x's (spec 4.5): loss_type grpo (TRL: bnpo 0.17-0.21, dapo >= 0.22),
// beta 0.04 (TRL: 0.04 up to 0.18, 0.0 from 0.19 on), epsilon 0.2, epsilon_high = epsilon.
struct grpo_loss_options {
  loss_type type = loss_type::grpo;
  double epsilon = 0.2;                     // epsilon_low: ratio clipped below at 1 - epsilon
  std::optional<double> epsilon_high;       // clipped above at 1 + epsilon_high; unset: epsilon (DAPO: 0.28)
  double beta = 0.04;                       // KL coefficient; 0 drops the KL term (and the ref model)
  std::optional<double> delta;              // two-sided clipping: rho = min(rho, delta) (TRL `delta`, INTELLECT-2)
  std::int64_t max_completion_length = 0;   // dr_grpo's denominator B * max_completion_length (required > 0 there)
  double num_items_in_batch = 0;            // dapo: completion tokens of the whole generation batch, all ranks;
                                            //   <= 0: this micro-batch's token count (one process, no accumulation)
  int num_processes = 1;                    // dapo: normaliser = num_items_in_batch / num_processes
  int gradient_accumulation_steps = 1;      // grpo/bnpo/dr_grpo are divided by it (TRL >= 0.22 does so inside
                                            //   _compute_loss; before, HF Trainer did); dapo's normaliser has it
  double high() const { return epsilon_high.value_or(epsilon); }
};

// What TRL logs for the micro-batch (one process: low_min = low_mean, high_max = high_mean).
// Token means over the completion mask, divided by max(1, tokens) (TRL >= 0.20's clamp).
struct grpo_metrics {
  double kl = std::numeric_limits<double>::quiet_NaN();  // mean k3 KL; only computed when beta != 0
  double clip_ratio_low = 0;     // clip_ratio/low_mean:  rho < 1 - eps and A < 0
  double clip_ratio_high = 0;    // clip_ratio/high_mean: rho > 1 + eps_high and A > 0
  double clip_ratio_region = 0;  // clip_ratio/region_mean: either
  std::int64_t num_tokens = 0;   // completion tokens in the micro-batch
};

template <class T, class B>
struct grpo_loss_result {
  tensor<T, B> loss;  // [1]; tracked on a tape when per_token_logps is
  grpo_metrics metrics;
};

namespace detail {
template <class T, class B>
std::vector<float> host_floats(const tensor<T, B>& x) {
  std::vector<float> out(static_cast<std::size_t>(x.numel()));
  const auto v = to_backend<cpu>(x).contiguous().to_vector();
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

// "nan" for any NaN (the stream would print "-nan" for a negative one).
inline std::string num_str(float x) {
  if (std::isnan(x)) return "nan";
  std::ostringstream os;
  os << x;
  return os.str();
}

struct grpo_saved {
  std::vector<float> dloss_dlogp;  // [B * T]: d loss / d per_token_logps
  vlm::shape shape;
};

template <class Tape>
void grpo_loss_backward(Tape& t, typename Tape::node& n) {
  using T = typename Tape::value_type;
  using B = typename Tape::backend_type;
  auto saved = std::static_pointer_cast<const grpo_saved>(n.extra);
  const float dloss = static_cast<float>(t.grad(n.out).item());
  std::vector<T> g(saved->dloss_dlogp.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = convert<T>(saved->dloss_dlogp[i] * dloss);
  t.accumulate(n.in[0], tensor<T, B>::from_host(saved->shape, std::span<const T>(g)));
}
}  // namespace detail

// requires: per_token_logps [B, T]; old_per_token_logps [B, T] or undefined (num_iterations == 1:
//           the detached current log-probs, so rho == 1); ref_per_token_logps [B, T] when
//           beta != 0; advantages with B elements; completion_mask [B, T], nonzero = completion
//           token (any arithmetic type: TRL's is int64).
// ensures:  the loss TRL computes for the same inputs; masked-out positions contribute exactly 0
//           (TRL multiplies by the mask, which differs only where a padded log-prob is not finite).
// throws:   shape_error, config_error (missing ref with beta != 0, dr_grpo without
//           max_completion_length, bad epsilon/num_processes/accumulation), numeric_error (a
//           completion token whose loss term is NaN/Inf, naming [b, t] and its inputs).
template <class Ctx, class T, class B, class M>
grpo_loss_result<T, B> grpo_loss(Ctx& ctx, const tensor<T, B>& per_token_logps, const tensor<T, B>& old_per_token_logps,
                                 const tensor<T, B>& ref_per_token_logps, const tensor<float, B>& advantages,
                                 const tensor<M, B>& completion_mask, const grpo_loss_options& opt = {}) {
  const auto& lp_t = per_token_logps;
  VLM_CHECK_AS(shape_error, lp_t.dim() == 2, "[grpo] per_token_logps must be [B, T], got ", lp_t.shape().str());
  const std::int64_t Bn = lp_t.size(0), Tn = lp_t.size(1);
  VLM_CHECK_AS(shape_error, completion_mask.shape() == lp_t.shape(), "[grpo] completion_mask ",
               completion_mask.shape().str(), " does not match per_token_logps ", lp_t.shape().str());
  VLM_CHECK_AS(shape_error, !old_per_token_logps.defined() || old_per_token_logps.shape() == lp_t.shape(),
               "[grpo] old_per_token_logps ", old_per_token_logps.shape().str(), " does not match per_token_logps ",
               lp_t.shape().str());
  VLM_CHECK_AS(shape_error, advantages.numel() == Bn, "[grpo] advantages have ", advantages.numel(),
               " elements, expected one per sequence (B = ", Bn, ")");
  VLM_CHECK_AS(config_error, opt.beta == 0.0 || ref_per_token_logps.defined(),
               "[grpo] beta = ", opt.beta, " needs ref_per_token_logps (the reference model's log-probs). Hint: beta = 0 "
               "drops the KL term and the reference model");
  VLM_CHECK_AS(shape_error, opt.beta == 0.0 || ref_per_token_logps.shape() == lp_t.shape(), "[grpo] ref_per_token_logps ",
               ref_per_token_logps.shape().str(), " does not match per_token_logps ", lp_t.shape().str());
  VLM_CHECK_AS(config_error, opt.epsilon >= 0 && opt.high() >= 0, "[grpo] epsilon ", opt.epsilon, " / epsilon_high ",
               opt.high(), " must be >= 0");
  VLM_CHECK_AS(config_error, opt.type != loss_type::dr_grpo || opt.max_completion_length > 0,
               "[grpo] loss_type dr_grpo divides by B * max_completion_length: set max_completion_length (> 0)");
  VLM_CHECK_AS(config_error, opt.num_processes >= 1 && opt.gradient_accumulation_steps >= 1,
               "[grpo] num_processes (", opt.num_processes, ") and gradient_accumulation_steps (",
               opt.gradient_accumulation_steps, ") must be >= 1");

  const auto lp = detail::host_floats(lp_t);
  const auto old = old_per_token_logps.defined() ? detail::host_floats(old_per_token_logps) : lp;
  const auto ref = opt.beta != 0.0 ? detail::host_floats(ref_per_token_logps) : std::vector<float>{};
  const auto adv = detail::host_floats(advantages);
  const auto mask = detail::host_floats(completion_mask);

  // torch compares and clamps an f32 tensor against Python floats converted to f32.
  const float lo = static_cast<float>(1.0 - opt.epsilon), hi = static_cast<float>(1.0 + opt.high());
  const float delta = opt.delta ? static_cast<float>(*opt.delta) : 0.f;
  const float beta = static_cast<float>(opt.beta);

  // Per-row token counts and the normalisation weight w[b] of a completion token of row b.
  std::vector<double> row_tokens(static_cast<std::size_t>(Bn), 0.0);
  double tokens = 0;
  for (std::int64_t b = 0; b < Bn; ++b)
    for (std::int64_t t = 0; t < Tn; ++t) row_tokens[static_cast<std::size_t>(b)] += mask[static_cast<std::size_t>(b * Tn + t)] != 0.f;
  for (double n : row_tokens) tokens += n;
  const double accum = opt.type == loss_type::dapo ? 1.0 : static_cast<double>(opt.gradient_accumulation_steps);
  auto weight = [&](std::int64_t b) -> double {
    switch (opt.type) {
      case loss_type::grpo: return 1.0 / (static_cast<double>(Bn) * std::max(1.0, row_tokens[static_cast<std::size_t>(b)]));
      case loss_type::bnpo: return 1.0 / std::max(1.0, tokens);
      case loss_type::dr_grpo: return 1.0 / (static_cast<double>(Bn) * static_cast<double>(opt.max_completion_length));
      case loss_type::dapo:
        return opt.num_items_in_batch > 0 ? static_cast<double>(opt.num_processes) / opt.num_items_in_batch
                                          : 1.0 / std::max(1.0, tokens);
    }
    return 0.0;
  };

  auto saved = std::make_shared<detail::grpo_saved>();
  saved->dloss_dlogp.assign(lp.size(), 0.f);
  saved->shape = lp_t.shape();
  double loss = 0, kl_sum = 0, low = 0, high = 0, region = 0;
  for (std::int64_t b = 0; b < Bn; ++b) {
    const float A = adv[static_cast<std::size_t>(b)];
    const double w = weight(b) / accum;
    double row = 0;
    for (std::int64_t t = 0; t < Tn; ++t) {
      const std::size_t i = static_cast<std::size_t>(b * Tn + t);
      if (mask[i] == 0.f) continue;
      const float ratio = std::exp(lp[i] - old[i]);  // coef_1 before delta
      const float c2 = std::clamp(ratio, lo, hi);
      const float c1 = opt.delta ? std::min(ratio, delta) : ratio;
      const float l1 = c1 * A, l2 = c2 * A;
      float per_token = -std::min(l1, l2);
      // d per_token / d logp. torch.min: the smaller side gets the gradient, each half at a tie;
      // clamp passes it where min <= x <= max; d exp(x) = exp(x).
      const float s1 = l1 < l2 ? 1.f : (l1 == l2 ? 0.5f : 0.f), s2 = 1.f - s1;
      const float dc1 = (!opt.delta || ratio <= delta) ? ratio : 0.f;
      const float dc2 = (ratio >= lo && ratio <= hi) ? ratio : 0.f;
      float grad = -(s1 * A * dc1 + s2 * A * dc2);
      if (beta != 0.f) {
        const float d = ref[i] - lp[i];
        const float e = std::exp(d);
        const float kl = e - d - 1.f;
        per_token += beta * kl;
        grad += beta * (1.f - e);
        kl_sum += kl;
      }
      if (!std::isfinite(per_token))
        fail<numeric_error>("[grpo] loss term at [", b, ", ", t, "] is ", detail::num_str(per_token), " (logp ",
                            detail::num_str(lp[i]), ", old ", detail::num_str(old[i]),
                            beta != 0.f ? ", ref " + detail::num_str(ref[i]) : std::string(), ", advantage ",
                            detail::num_str(A), ")");
      row += per_token;
      saved->dloss_dlogp[i] = static_cast<float>(w * static_cast<double>(grad));
      const bool is_low = c1 < lo && A < 0.f, is_high = c1 > hi && A > 0.f;
      low += is_low;
      high += is_high;
      region += is_low || is_high;
    }
    loss += w * row;
  }

  grpo_loss_result<T, B> r;
  const double count = std::max(1.0, tokens);
  r.metrics.num_tokens = static_cast<std::int64_t>(tokens);
  if (beta != 0.f) r.metrics.kl = kl_sum / count;
  r.metrics.clip_ratio_low = low / count;
  r.metrics.clip_ratio_high = high / count;
  r.metrics.clip_ratio_region = region / count;
  r.loss = tensor<T, B>::full({1}, convert<T>(static_cast<float>(loss)));
  if constexpr (is_tape_v<Ctx>) {
    if (lp_t.grad_slot >= 0) {
      auto& n = ctx.record(&detail::grpo_loss_backward<Ctx>);
      n.extra = std::move(saved);
      n.in[0] = lp_t.grad_slot;
      r.loss.grad_slot = n.out = ctx.new_slot(r.loss.shape());
    }
  }
  return r;
}

}  // namespace vlm::rl
