// Floating-point operations of Qwen2.5-VL, counted from the shapes the way roofline and MFU
// figures count them: 2 per multiply-add of every matrix product (linear layers, patch embed,
// attention scores and weighted sums, lm_head), nothing for elementwise ops, norms and
// softmax (they are a few percent for these shapes). Training = forward + backward, and the
// backward of a matrix product costs two forward ones (input and weight gradients), so a
// trained part counts 3x its forward; a frozen part still back-propagates into its input
// only when something before it trains (never the case for the vision tower), so it counts 1x.
// Worked example, one linear layer 96 -> 384 over 40 tokens: 2 * 40 * 96 * 384 = 2.95 MFLOP.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vlm/models/qwen2_5_vl/config.hpp"
#include "vlm/models/qwen2_5_vl/vision_layout.hpp"  // defines: grid_thw

namespace vlm::qwen2_5_vl {

// Forward FLOPs of the vision tower on one image (patch embed, blocks, merger).
inline double vision_forward_flops(const vision_config& v, std::int64_t out_hidden, const grid_thw& g) {
  const double H = static_cast<double>(v.hidden_size), I = static_cast<double>(v.intermediate_size);
  const double N = static_cast<double>(g.patches());
  const double patch_in = static_cast<double>(v.in_channels * v.temporal_patch_size * v.patch_size * v.patch_size);
  double flops = 2 * N * patch_in * H;
  // Attention context per patch: windows of window_units^2 merge units (clipped at the
  // image's edge) or the whole image in full-attention blocks.
  const std::int64_t m = v.spatial_merge_size, wu = std::max<std::int64_t>(1, v.window_units());
  const std::int64_t uh = g.h / m, uw = g.w / m;
  double windowed_pairs = 0;  // sum over windows of (patches in window)^2, per frame
  for (std::int64_t y = 0; y < uh; y += wu)
    for (std::int64_t x = 0; x < uw; x += wu) {
      const double n = static_cast<double>(std::min(wu, uh - y) * std::min(wu, uw - x) * m * m);
      windowed_pairs += n * n;
    }
  windowed_pairs *= static_cast<double>(g.t);
  const double full_pairs = static_cast<double>(g.t) * static_cast<double>(g.h * g.w) * static_cast<double>(g.h * g.w);
  for (std::int64_t b = 0; b < v.depth; ++b) {
    const bool full = std::find(v.fullatt_block_indexes.begin(), v.fullatt_block_indexes.end(), b) != v.fullatt_block_indexes.end();
    flops += 2 * N * H * (3 * H) + 2 * N * H * H;     // qkv, proj
    flops += 2 * N * H * I * 3;                       // gate, up, down
    flops += 4 * H * (full ? full_pairs : windowed_pairs);  // scores + weighted sum
  }
  const double units = N / static_cast<double>(m * m), merged = H * static_cast<double>(m * m);
  flops += 2 * units * merged * merged + 2 * units * merged * static_cast<double>(out_hidden);
  return flops;
}

// Forward FLOPs of the language model on one sequence of `len` positions, with lm_head
// applied to `logit_rows` of them (the SFT trainer applies it to labelled positions only).
inline double text_forward_flops(const text_config& t, std::int64_t len, std::int64_t logit_rows) {
  const double H = static_cast<double>(t.hidden_size), I = static_cast<double>(t.intermediate_size);
  const double kv = static_cast<double>(t.num_key_value_heads * t.head_dim()), L = static_cast<double>(len);
  const double per_layer = 2 * L * H * (H + 2 * kv) + 2 * L * H * H  // q, k, v, o
                           + 2 * L * H * I * 3                         // gate, up, down
                           + 2 * H * L * (L + 1);                      // causal scores + weighted sum
  return static_cast<double>(t.num_hidden_layers) * per_layer +
         2 * static_cast<double>(logit_rows) * H * static_cast<double>(t.vocab_size);
}

// Training FLOPs (forward + backward) of one batch: `rows` sequences padded to `len`, lm_head
// on `logit_rows` positions in all, the batch's images, with or without a trained vision tower.
inline double train_flops(const config& c, std::int64_t rows, std::int64_t len, std::int64_t logit_rows,
                          const std::vector<grid_thw>& images, bool vision_trains) {
  double vision = 0;
  for (const auto& g : images) vision += vision_forward_flops(c.vision, c.text.hidden_size, g);
  const double body = static_cast<double>(rows) * text_forward_flops(c.text, len, 0);
  const double head = 2 * static_cast<double>(logit_rows) * static_cast<double>(c.text.hidden_size * c.text.vocab_size);
  return 3 * (body + head) + (vision_trains ? 3 : 1) * vision;
}

}  // namespace vlm::qwen2_5_vl
