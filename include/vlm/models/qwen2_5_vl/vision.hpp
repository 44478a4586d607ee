// The Qwen2.5-VL vision tower (transformers' Qwen2_5_VisionTransformerPretrainedModel):
//   patch_embed -> permute merge units into window order (rows and rope angles alike) ->
//   depth x vit_block (full attention per frame on fullatt_block_indexes, windows elsewhere) ->
//   patch_merger -> un-permute to raster unit order.
//   pixel_values [P, 3*2*14*14] -> image_embeds [P/4, out_hidden_size]
// Block is a template parameter (default: the published architecture).
#pragma once
#include <algorithm>

#include "vlm/models/qwen2_5_vl/config.hpp"
#include "vlm/models/qwen2_5_vl/vision_layout.hpp"
#include "vlm/nn/linear.hpp"
#include "vlm/nn/patch_embed.hpp"
#include "vlm/nn/patch_merger.hpp"
#include "vlm/nn/rms_norm.hpp"
#include "vlm/nn/rope.hpp"
#include "vlm/nn/swiglu.hpp"
#include "vlm/nn/vision_attention.hpp"
#include "vlm/nn/vit_block.hpp"

namespace vlm::qwen2_5_vl {

template <class T, class B, class Linear = nn::linear<T, B>>
using vision_block = nn::vit_block<nn::rms_norm<T, B>, nn::vision_attention<Linear>, nn::swiglu<Linear>>;

template <class T, class B, class Block = vision_block<T, B>>
struct vision_tower {
  using norm_type = nn::rms_norm<T, B>;
  nn::patch_embed<T, B> patch_embed;
  std::vector<Block> blocks;
  nn::patch_merger<norm_type, nn::linear<T, B>> merger;
  vision_config cfg;

  vision_tower() = default;
  explicit vision_tower(const vision_config& c) : cfg(c) {
    patch_embed = nn::patch_embed<T, B>(c.in_channels, c.temporal_patch_size, c.patch_size, c.hidden_size);
    blocks.resize(static_cast<std::size_t>(c.depth));
    for (auto& b : blocks) {
      b.norm1 = norm_type(c.hidden_size, 1e-6f);  // eps fixed at 1e-6 in transformers' ViT
      b.norm2 = norm_type(c.hidden_size, 1e-6f);
      b.attn = decltype(b.attn)(c.hidden_size, c.num_heads);
      b.mlp = decltype(b.mlp)(c.hidden_size, c.intermediate_size, true);
    }
    merger = decltype(merger)(c.hidden_size, c.out_hidden_size, c.spatial_merge_size, 1e-6f);
  }

  bool is_full_attention(std::int64_t block) const {
    return std::find(cfg.fullatt_block_indexes.begin(), cfg.fullatt_block_indexes.end(), block) !=
           cfg.fullatt_block_indexes.end();
  }

  // pixel_values [P, C*t*p*p] for the images with these grids -> [P/4, out_hidden_size].
  template <class Ctx>
  tensor<T, B> forward(Ctx& ctx, const tensor<T, B>& pixel_values, const std::vector<grid_thw>& grids) const {
    const std::int64_t merge = cfg.spatial_merge_size, unit = merge * merge;
    std::int64_t expected = 0;
    for (const auto& g : grids) expected += g.patches();
    VLM_CHECK_AS(shape_error, pixel_values.dim() == 2 && pixel_values.size(0) == expected, "vision: pixel_values ",
                 pixel_values.shape().str(), " but the grids describe ", expected, " patches");
    const auto windows = window_partition(grids, merge, cfg.window_units());
    const auto rows = expand_units(windows.window_index, unit);

    auto x = patch_embed.forward(ctx, pixel_values);
    ctx.trace(x, "vision_patch_embeds");
    x = ag::gather_rows(ctx, x, rows);

    auto pos = patch_positions_of(grids, merge);
    std::vector<std::int64_t> ys(rows.size()), xs(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      ys[i] = pos.y[static_cast<std::size_t>(rows[i])];
      xs[i] = pos.x[static_cast<std::size_t>(rows[i])];
    }
    const auto rope = nn::vision_rope_tables(ys, xs, cfg.head_dim());

    attention_mask full, windowed;
    full.cu_seqlens = frame_segments(grids);
    windowed.cu_seqlens = windows.cu_window_seqlens;
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      x = blocks[b].forward(ctx, x, rope, is_full_attention(static_cast<std::int64_t>(b)) ? full : windowed);
      ctx.trace(x, "vision_block" + std::to_string(b) + "_out");
    }
    auto merged = merger.forward(ctx, x);  // [P/4, out] in window order
    ctx.trace(merged, "vision_merger_out_window_order");
    return ag::gather_rows(ctx, merged, inverse_permutation(windows.window_index));
  }

  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    patch_embed.visit_params(v, nn::join_name(prefix, "patch_embed"));
    for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i].visit_params(v, nn::join_name(prefix, "blocks." + std::to_string(i)));
    merger.visit_params(v, nn::join_name(prefix, "merger"));
  }
};

}  // namespace vlm::qwen2_5_vl
