// LoRA (PEFT semantics, spec training_rl_serving 1.1-1.3) as a drop-in Linear:
//   y = base(x) + s * B(A(dropout(x))),   A [r, in], B [out, r],   s = alpha / r (alpha / sqrt(r) with rslora)
// lora<Linear> has Linear's constructor, so the model templates take it in place of nn::linear.
// An adapter is attached later by name (attach_lora), so untargeted layers cost nothing; it can
// be switched off (the GRPO reference policy without a second copy of the weights) and merged
// into the base weight (W += s * B A, as PEFT's merge_and_unload).
// Init (PEFT init_lora_weights=true): A ~ kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
// B = 0, so a fresh adapter is a no-op.
// Keys: "<prefix>.lora_A.weight", "<prefix>.lora_B.weight" (PEFT's, without the adapter name).
#pragma once
#include <cmath>
#include <random>

#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"
#include "vlm/nn/linear.hpp"

namespace vlm::train {

struct lora_config {
  std::int64_t rank = 8;
  float alpha = 32.f;
  float dropout = 0.05f;
  bool use_rslora = false;
  float scale() const {
    return use_rslora ? alpha / std::sqrt(static_cast<float>(rank)) : alpha / static_cast<float>(rank);
  }
};

template <class Linear>
struct lora {
  using value_type = typename Linear::value_type;
  using backend_type = typename Linear::backend_type;
  using T = value_type;
  using B = backend_type;

  Linear base;
  parameter<T, B> lora_A;  // [r, in]; undefined while no adapter is attached
  parameter<T, B> lora_B;  // [out, r]
  float scaling = 0.f;
  float dropout = 0.f;
  bool enabled = true;  // false: the base layer alone (reference policy)

  lora() = default;
  lora(std::int64_t in_features, std::int64_t out_features, bool has_bias) : base(in_features, out_features, has_bias) {}

  bool has_adapter() const { return lora_A.defined(); }
  std::int64_t in_features() const { return base.in_features(); }
  std::int64_t out_features() const { return base.out_features(); }

  // Attaches a fresh adapter (PEFT's default init) drawing A from rng.
  template <class Rng>
  void attach(const lora_config& cfg, Rng& rng) {
    const std::int64_t in = in_features(), out = out_features();
    lora_A = parameter<T, B>(tensor<T, B>::empty({cfg.rank, in}));
    lora_B = parameter<T, B>(tensor<T, B>::zeros({out, cfg.rank}));
    const float bound = 1.f / std::sqrt(static_cast<float>(in));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<T> a(static_cast<std::size_t>(cfg.rank * in));
    for (auto& v : a) v = convert<T>(u(rng));
    lora_A.value = tensor<T, B>::from_host({cfg.rank, in}, a);
    scaling = cfg.scale();
    dropout = cfg.dropout;
  }
  void detach() {
    lora_A = {};
    lora_B = {};
  }

  template <class Ctx>
  tensor<T, B> forward(Ctx& ctx, const tensor<T, B>& x) const {
    auto y = base.forward(ctx, x);
    if (!has_adapter() || !enabled) return y;
    auto xd = ag::dropout(ctx, x, dropout);
    auto h = ag::linear(ctx, xd, ag::use(ctx, lora_A));
    auto d = ag::linear(ctx, h, ag::use(ctx, lora_B));
    return ag::add(ctx, y, ag::scale(ctx, d, scaling));
  }

  // W += s * B A, then the adapter is removed (merge_and_unload). f32 arithmetic.
  void merge() {
    if (!has_adapter()) return;
    auto delta = matmul(cast<float>(lora_B.value), cast<float>(lora_A.value));  // [out, in]
    auto w = cast<float>(base.weight.value).clone();
    add_(w, delta, scaling);
    base.weight.value = cast<T>(w);
    detach();
  }

  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    if constexpr (requires { v.on_lora(std::string(prefix), *this); }) v.on_lora(std::string(prefix), *this);
    base.visit_params(v, prefix);
    if (has_adapter()) {
      v(nn::join_name(prefix, "lora_A.weight"), lora_A);
      v(nn::join_name(prefix, "lora_B.weight"), lora_B);
    }
  }
};

inline bool is_lora_name(std::string_view name) {
  return name.find(".lora_A.") != std::string_view::npos || name.find(".lora_B.") != std::string_view::npos;
}

}  // namespace vlm::train
