// nn::vision_attention: Qwen2.5-VL ViT attention. Fused qkv projection (bias) whose output
// columns are [q (H*D) | k (H*D) | v (H*D)], 2-D rope on q and k, non-causal attention inside
// segments (cu_seqlens: windows or whole images), proj (bias).
//   x [P, C] -> [P, C]; rope tables [P, D].  HF keys: qkv, proj.
#pragma once
#include <cmath>

#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"
#include "vlm/nn/rope.hpp"

namespace vlm::nn {

template <class Linear>
struct vision_attention {
  Linear qkv;
  Linear proj;
  std::int64_t heads = 0, head_dim = 0;

  vision_attention() = default;
  vision_attention(std::int64_t dim, std::int64_t n_heads)
      : qkv(dim, 3 * dim, true), proj(dim, dim, true), heads(n_heads), head_dim(dim / n_heads) {}

  template <class Ctx, class X>
  X forward(Ctx& ctx, const X& x, const rope_tables& rope, const attention_mask& segments) const {
    const std::int64_t P = x.size(0), C = heads * head_dim;
    auto fused = qkv.forward(ctx, x);  // [P, 3C]
    auto q = ag::narrow(ctx, fused, -1, 0, C).view({P, heads, head_dim});
    auto k = ag::narrow(ctx, fused, -1, C, C).view({P, heads, head_dim});
    auto v = ag::narrow(ctx, fused, -1, 2 * C, C).view({1, P, heads, head_dim});
    q = ag::rotary(ctx, q, rope.cos, rope.sin).view({1, P, heads, head_dim});
    k = ag::rotary(ctx, k, rope.cos, rope.sin).view({1, P, heads, head_dim});
    auto o = ag::attention(ctx, q, k, v, segments, 1.0f / std::sqrt(static_cast<float>(head_dim)));
    return proj.forward(ctx, o.view({P, C}));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    qkv.visit_params(v, join_name(prefix, "qkv"));
    proj.visit_params(v, join_name(prefix, "proj"));
  }
};

}  // namespace vlm::nn
