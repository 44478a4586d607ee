// nn::gqa_attention: Qwen2 text self-attention. q/k/v projections (biases in Qwen2), M-RoPE on
// q and k, causal grouped-query attention (scale 1/sqrt(D)), o_proj (no bias).
//   x [B, S, C] -> [B, S, C];  q [B,S,H,D], k/v [B,S,Hkv,D];  rope tables [B*S, D].
// An optional kv_cache (generate/kv_cache.hpp) appends this call's k/v and attends over the
// whole cached sequence; the causal mask then uses the cache's sequence index (q_offset).
// HF keys: q_proj, k_proj, v_proj, o_proj.
#pragma once
#include <cmath>

#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"
#include "vlm/nn/rope.hpp"

namespace vlm::nn {

// Placeholder cache type meaning "no KV cache" (prefill-only / training).
struct no_cache {};

template <class QProj, class KProj = QProj, class VProj = QProj, class OProj = QProj>
struct gqa_attention {
  QProj q_proj;
  KProj k_proj;
  VProj v_proj;
  OProj o_proj;
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;

  gqa_attention() = default;
  gqa_attention(std::int64_t hidden, std::int64_t n_heads, std::int64_t n_kv_heads)
      : q_proj(hidden, n_heads * (hidden / n_heads), true),
        k_proj(hidden, n_kv_heads * (hidden / n_heads), true),
        v_proj(hidden, n_kv_heads * (hidden / n_heads), true),
        o_proj(n_heads * (hidden / n_heads), hidden, false),
        heads(n_heads),
        kv_heads(n_kv_heads),
        head_dim(hidden / n_heads) {
    VLM_CHECK_AS(config_error, hidden % n_heads == 0 && n_heads % n_kv_heads == 0, "attention: hidden ", hidden,
                 ", heads ", n_heads, ", kv heads ", n_kv_heads, " (need hidden % heads == 0 and heads % kv_heads == 0)");
  }

  template <class Ctx, class X, class Cache = no_cache>
  X forward(Ctx& ctx, const X& x, const rope_tables& rope, const attention_mask& mask, Cache* cache = nullptr,
            int layer_index = 0) const {
    const std::int64_t B = x.size(0), S = x.size(1);
    auto q = q_proj.forward(ctx, x).view({B * S, heads, head_dim});
    auto k = k_proj.forward(ctx, x).view({B * S, kv_heads, head_dim});
    auto v = v_proj.forward(ctx, x).view({B, S, kv_heads, head_dim});
    q = ag::rotary(ctx, q, rope.cos, rope.sin).view({B, S, heads, head_dim});
    k = ag::rotary(ctx, k, rope.cos, rope.sin).view({B, S, kv_heads, head_dim});
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    X o;
    if constexpr (std::is_same_v<Cache, no_cache>) {
      o = ag::attention(ctx, q, k, v, mask, scale);
    } else if (cache) {
      auto [k_all, v_all] = cache->append(layer_index, k, v);
      o = ag::attention(ctx, q, k_all, v_all, mask, scale);
    } else {
      o = ag::attention(ctx, q, k, v, mask, scale);
    }
    return o_proj.forward(ctx, o.view({B, S, heads * head_dim}));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    q_proj.visit_params(v, join_name(prefix, "q_proj"));
    k_proj.visit_params(v, join_name(prefix, "k_proj"));
    v_proj.visit_params(v, join_name(prefix, "v_proj"));
    o_proj.visit_params(v, join_name(prefix, "o_proj"));
  }
};

}  // namespace vlm::nn
