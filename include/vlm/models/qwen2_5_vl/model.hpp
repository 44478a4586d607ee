// Qwen2.5-VL for conditional generation, composed from the vision tower and the text model
// (transformers' Qwen2_5_VLForConditionalGeneration):
//   1. image_embeds = visual(pixel_values, grids)                        [n_pad, C]
//   2. embeds = embed_tokens(input_ids), rows at <|image_pad|> replaced by image_embeds in order
//   3. positions = get_rope_index(...) -> M-RoPE tables;  mask = causal + padding (by sequence index)
//   4. hidden = text(embeds);  logits = hidden lm_head^T  (lm_head tied to embed_tokens or not)
// The block types are template parameters: a user can re-assemble the model with another MLP,
// depth, or LoRA-wrapped projections (examples/02_compose_block.cpp).
#pragma once
#include <optional>

#include "vlm/models/qwen2_5_vl/config.hpp"
#include "vlm/models/qwen2_5_vl/rope_index.hpp"
#include "vlm/models/qwen2_5_vl/text.hpp"
#include "vlm/models/qwen2_5_vl/vision.hpp"

namespace vlm::qwen2_5_vl {

template <class T, class B>
struct model_inputs {
  tensor<std::int64_t, cpu> input_ids;       // [B, L]
  tensor<std::int64_t, cpu> attention_mask;  // [B, L], optional (1 = token, 0 = padding)
  tensor<T, B> pixel_values;                 // [P, 1176], optional
  std::vector<grid_thw> image_grids;         // one per image, in order of appearance
};

template <class T, class B>
struct model_outputs {
  tensor<T, B> logits;        // [B, L, V]
  tensor<T, B> hidden;        // [B, L, C] after the final norm
  tensor<T, B> image_embeds;  // [n_image_tokens, C] (undefined without images)
  rope_index_result positions;
};

template <class T, class B, class TextBlock = text_block<T, B>, class VisionBlock = vision_block<T, B>>
struct model {
  using value_type = T;
  using backend_type = B;
  config cfg;
  vision_tower<T, B, VisionBlock> visual;
  text_model<T, B, TextBlock> language;
  parameter<T, B> lm_head;  // [V, C]; undefined when tied to embed_tokens

  model() = default;
  explicit model(const config& c) : cfg(c), visual(c.vision), language(c.text) {
    if (!c.text.tie_word_embeddings) lm_head = parameter<T, B>(tensor<T, B>::empty({c.text.vocab_size, c.text.hidden_size}));
  }

  const parameter<T, B>& head() const { return lm_head.defined() ? lm_head : language.embed_tokens; }

  // Token embeddings with the image features scattered into the <|image_pad|> rows.
  // strict: an <|image_pad|> without image features is an error (prompts); decoding passes
  // false, since a sampled pad id is just a token there (as in transformers).
  template <class Ctx>
  tensor<T, B> embed(Ctx& ctx, const model_inputs<T, B>& in, tensor<T, B>* image_embeds_out = nullptr,
                     bool strict = true) const {
    const std::int64_t Bn = in.input_ids.size(0), L = in.input_ids.size(1), C = cfg.text.hidden_size;
    auto embeds = language.embed(ctx, in.input_ids.view({Bn * L}));  // [B*L, C]
    ctx.trace(embeds, "text_embeds");
    std::vector<std::int64_t> pad_rows;
    auto ids = in.input_ids.contiguous();
    for (std::int64_t i = 0; i < Bn * L; ++i)
      if (ids.data()[i] == cfg.image_token_id) pad_rows.push_back(i);
    if (!in.image_grids.empty()) {
      auto image_embeds = visual.forward(ctx, in.pixel_values, in.image_grids);
      if (image_embeds_out) *image_embeds_out = image_embeds;
      VLM_CHECK_AS(shape_error, static_cast<std::int64_t>(pad_rows.size()) == image_embeds.size(0),
                   "image features and image tokens do not match: ", pad_rows.size(), " <|image_pad|> tokens, ",
                   image_embeds.size(0), " image features (from the grids)");
      embeds = ag::scatter_rows(ctx, embeds, pad_rows, image_embeds);
    } else if (strict) {
      VLM_CHECK_AS(shape_error, pad_rows.empty(), "input has ", pad_rows.size(), " <|image_pad|> tokens but no images");
    }
    return embeds.view({Bn, L, C});
  }

  // Causal + padding mask and the M-RoPE tables for a full (prefill) pass.
  attention_mask text_mask(const model_inputs<T, B>& in) const {
    attention_mask m;
    m.causal = true;
    if (in.attention_mask.defined()) {
      auto am = in.attention_mask.contiguous();
      m.key_valid = tensor<std::uint8_t, cpu>::empty(am.shape());
      for (std::int64_t i = 0; i < am.numel(); ++i) m.key_valid.data()[i] = am.data()[i] != 0;
    }
    return m;
  }
  nn::rope_tables text_rope(const tensor<std::int64_t, cpu>& position_ids) const {
    const std::int64_t N = position_ids.size(1) * position_ids.size(2);
    return nn::mrope_tables(position_ids.contiguous().view({3, N}), cfg.text.head_dim(), cfg.text.rope_theta,
                            cfg.text.mrope_section);
  }

  template <class Ctx>
  tensor<T, B> logits(Ctx& ctx, const tensor<T, B>& hidden) const {
    return ag::linear(ctx, hidden, ag::use(ctx, head()));
  }

  // with_logits = false leaves out.logits empty: a trainer that needs the logits of a few
  // positions applies logits() to those rows of out.hidden (lm_head is a large share of a
  // small model's FLOPs when most positions carry no label).
  template <class Ctx>
  model_outputs<T, B> forward(Ctx& ctx, const model_inputs<T, B>& in, bool with_logits = true) const {
    model_outputs<T, B> out;
    auto embeds = embed(ctx, in, &out.image_embeds);
    ctx.trace(embeds, "hidden_states_0");
    out.positions = get_rope_index(in.input_ids, in.image_grids, in.attention_mask, cfg);
    out.hidden = language.forward(ctx, embeds, text_rope(out.positions.position_ids), text_mask(in));
    if (with_logits) out.logits = logits(ctx, out.hidden);
    return out;
  }

  template <class Visit>
  void visit_params(Visit&& v, std::string_view = "") {
    visual.visit_params(v, "visual");
    language.visit_params(v, "model");
    if (lm_head.defined()) v("lm_head.weight", lm_head);
  }
};

}  // namespace vlm::qwen2_5_vl
