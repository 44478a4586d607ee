// nn::pre_norm_block: the Qwen2 decoder layer.
//   h = x + self_attn(input_layernorm(x));  out = h + mlp(post_attention_layernorm(h))
// Norm, Attn and Mlp are template parameters (swap the MLP, wrap projections in LoRA, ...).
// HF keys: input_layernorm, self_attn, post_attention_layernorm, mlp.
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class Norm, class Attn, class Mlp>
struct pre_norm_block {
  Norm input_layernorm;
  Attn self_attn;
  Norm post_attention_layernorm;
  Mlp mlp;

  template <class Ctx, class X, class... AttnArgs>
  X forward(Ctx& ctx, const X& x, AttnArgs&&... attn_args) const {
    auto h = ag::add(ctx, x, self_attn.forward(ctx, input_layernorm.forward(ctx, x), attn_args...));
    return ag::add(ctx, h, mlp.forward(ctx, post_attention_layernorm.forward(ctx, h)));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    input_layernorm.visit_params(v, join_name(prefix, "input_layernorm"));
    self_attn.visit_params(v, join_name(prefix, "self_attn"));
    post_attention_layernorm.visit_params(v, join_name(prefix, "post_attention_layernorm"));
    mlp.visit_params(v, join_name(prefix, "mlp"));
  }
};

}  // namespace vlm::nn
