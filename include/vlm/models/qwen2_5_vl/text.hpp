// The Qwen2 text decoder of Qwen2.5-VL (transformers' Qwen2_5_VLModel): token embeddings,
// num_hidden_layers x pre_norm_block (GQA attention with M-RoPE + SwiGLU), final RMSNorm.
//   embeds [B, L, C] -> hidden [B, L, C].  HF keys: embed_tokens, layers.N, norm.
#pragma once
#include "vlm/models/qwen2_5_vl/config.hpp"
#include "vlm/nn/decoder_block.hpp"
#include "vlm/nn/gqa_attention.hpp"
#include "vlm/nn/linear.hpp"
#include "vlm/nn/rms_norm.hpp"
#include "vlm/nn/swiglu.hpp"

namespace vlm::qwen2_5_vl {

template <class T, class B, class Linear = nn::linear<T, B>>
using text_block = nn::pre_norm_block<nn::rms_norm<T, B>, nn::gqa_attention<Linear>, nn::swiglu<Linear>>;

template <class T, class B, class Block = text_block<T, B>>
struct text_model {
  parameter<T, B> embed_tokens;  // [V, C]
  std::vector<Block> layers;
  nn::rms_norm<T, B> norm;
  text_config cfg;

  text_model() = default;
  explicit text_model(const text_config& c) : embed_tokens(tensor<T, B>::empty({c.vocab_size, c.hidden_size})), cfg(c) {
    layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
    for (auto& l : layers) {
      l.input_layernorm = nn::rms_norm<T, B>(c.hidden_size, c.rms_norm_eps);
      l.post_attention_layernorm = nn::rms_norm<T, B>(c.hidden_size, c.rms_norm_eps);
      l.self_attn = decltype(l.self_attn)(c.hidden_size, c.num_attention_heads, c.num_key_value_heads);
      l.mlp = decltype(l.mlp)(c.hidden_size, c.intermediate_size, false);
    }
    norm = nn::rms_norm<T, B>(c.hidden_size, c.rms_norm_eps);
  }

  template <class Ctx, class I>
  tensor<T, B> embed(Ctx& ctx, const tensor<I, B>& ids) const {
    return ag::embedding(ctx, ag::use(ctx, embed_tokens), ids);
  }

  // Runs every layer; `cache` (optional) is a KV cache with append(layer, k, v).
  template <class Ctx, class Cache = nn::no_cache>
  tensor<T, B> forward(Ctx& ctx, const tensor<T, B>& embeds, const nn::rope_tables& rope, const attention_mask& mask,
                       Cache* cache = nullptr) const {
    auto h = embeds;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      h = layers[i].forward(ctx, h, rope, mask, cache, static_cast<int>(i));
      ctx.trace(h, "hidden_states_" + std::to_string(i + 1));
    }
    return norm.forward(ctx, h);
  }

  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    v(nn::join_name(prefix, "embed_tokens.weight"), embed_tokens);
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i].visit_params(v, nn::join_name(prefix, "layers." + std::to_string(i)));
    norm.visit_params(v, nn::join_name(prefix, "norm"));
  }
};

}  // namespace vlm::qwen2_5_vl
