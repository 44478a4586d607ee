// nn::vit_block: one Qwen2.5-VL vision block (transformers' Qwen2_5_VLVisionBlock).
//   x = x + attn(norm1(x));  x = x + mlp(norm2(x))   (RMSNorm eps 1e-6, SwiGLU MLP with biases)
// HF keys: norm1, attn, norm2, mlp.
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"
#include "vlm/nn/rope.hpp"

namespace vlm::nn {

template <class Norm, class Attn, class Mlp>
struct vit_block {
  Norm norm1;
  Attn attn;
  Norm norm2;
  Mlp mlp;

  template <class Ctx, class X>
  X forward(Ctx& ctx, const X& x, const rope_tables& rope, const attention_mask& segments) const {
    auto h = ag::add(ctx, x, attn.forward(ctx, norm1.forward(ctx, x), rope, segments));
    return ag::add(ctx, h, mlp.forward(ctx, norm2.forward(ctx, h)));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    norm1.visit_params(v, join_name(prefix, "norm1"));
    attn.visit_params(v, join_name(prefix, "attn"));
    norm2.visit_params(v, join_name(prefix, "norm2"));
    mlp.visit_params(v, join_name(prefix, "mlp"));
  }
};

}  // namespace vlm::nn
