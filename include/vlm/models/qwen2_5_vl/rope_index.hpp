// M-RoPE position ids (transformers' get_rope_index, spec 5.3), integers only (L0).
// Per sequence (only attention_mask == 1 tokens take part; padding positions get 1):
// text runs count up on all three axes; an image run of grid (t, gh, gw) (lh = gh/2,
// lw = gw/2 units) gets [base + T, base + Y, base + X] in raster order, base = the position
// after the preceding text; the next text starts at 1 + max(position so far), i.e. the cursor
// advances by max(lh, lw), not by the token count. delta = 1 + max position - L.
// Worked example (spec 5.4): grid (1, 4, 6), 15 text tokens, then the 6 pads get
// t = 15, h = 15 15 15 16 16 16, w = 15 16 17 15 16 17, <|vision_end|> gets 18, delta = -3.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "vlm/core/tensor.hpp"
#include "vlm/models/qwen2_5_vl/config.hpp"
#include "vlm/models/qwen2_5_vl/vision_layout.hpp"

namespace vlm::qwen2_5_vl {

struct rope_index_result {
  tensor<std::int64_t, cpu> position_ids;  // [3, B, L]
  std::vector<std::int64_t> rope_deltas;   // [B]
};

// input_ids [B, L]; attention_mask [B, L] (undefined = all ones); image grids in order of
// appearance across the batch.
inline rope_index_result get_rope_index(const tensor<std::int64_t, cpu>& input_ids, const std::vector<grid_thw>& image_grids,
                                        const tensor<std::int64_t, cpu>& attention_mask, const config& cfg) {
  const std::int64_t B = input_ids.size(0), L = input_ids.size(1), merge = cfg.vision.spatial_merge_size;
  auto ids = input_ids.contiguous();
  tensor<std::int64_t, cpu> mask = attention_mask.defined() ? attention_mask.contiguous()
                                                            : tensor<std::int64_t, cpu>::full({B, L}, 1);
  rope_index_result r{tensor<std::int64_t, cpu>::full({3, B, L}, 1), {}};
  std::int64_t* pos = r.position_ids.data();
  std::size_t image_i = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> tokens, where;  // the unmasked tokens and their columns
    for (std::int64_t l = 0; l < L; ++l)
      if (mask.data()[b * L + l] == 1) {
        tokens.push_back(ids.data()[b * L + l]);
        where.push_back(l);
      }
    std::int64_t images = 0;  // <|vision_start|> followed by <|image_pad|>
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i)
      if (tokens[i] == cfg.vision_start_token_id && tokens[i + 1] == cfg.image_token_id) ++images;
    std::vector<std::array<std::int64_t, 3>> out;  // (t, h, w) per unmasked token
    out.reserve(tokens.size());
    std::int64_t next = 0;  // 1 + max position emitted so far
    std::size_t st = 0;
    auto emit_text = [&](std::size_t count) {
      for (std::size_t i = 0; i < count; ++i) out.push_back({next + std::int64_t(i), next + std::int64_t(i), next + std::int64_t(i)});
      if (count) next += static_cast<std::int64_t>(count);
    };
    for (std::int64_t k = 0; k < images; ++k) {
      auto it = std::find(tokens.begin() + static_cast<std::ptrdiff_t>(st), tokens.end(), cfg.image_token_id);
      VLM_CHECK_AS(shape_error, it != tokens.end() && image_i < image_grids.size(), "get_rope_index: sequence ", b,
                   " announces more images than there are image grids (", image_grids.size(), ")");
      std::size_t ed = static_cast<std::size_t>(it - tokens.begin());
      emit_text(ed - st);
      const auto [t, gh, gw] = image_grids[image_i++];
      const std::int64_t lh = gh / merge, lw = gw / merge, base = next;
      std::int64_t mx = base - 1;
      for (std::int64_t ti = 0; ti < t; ++ti)  // images: second_per_grid_t = 0, so T = 0
        for (std::int64_t Y = 0; Y < lh; ++Y)
          for (std::int64_t X = 0; X < lw; ++X) {
            out.push_back({base + 0 * ti, base + Y, base + X});
            mx = std::max({mx, base, base + Y, base + X});
          }
      next = mx + 1;
      st = ed + static_cast<std::size_t>(t * lh * lw);
    }
    if (st < tokens.size()) emit_text(tokens.size() - st);
    VLM_CHECK_AS(shape_error, out.size() == tokens.size(), "get_rope_index: sequence ", b, " has ", tokens.size(),
                 " tokens but the image runs cover ", out.size(), " (pad count does not match the grids)");
    std::int64_t max_pos = -1;
    for (std::size_t i = 0; i < out.size(); ++i)
      for (int a = 0; a < 3; ++a) {
        pos[(a * B + b) * L + where[i]] = out[i][static_cast<std::size_t>(a)];
        max_pos = std::max(max_pos, out[i][static_cast<std::size_t>(a)]);
      }
    r.rope_deltas.push_back(max_pos + 1 - L);
  }
  return r;
}

}  // namespace vlm::qwen2_5_vl
