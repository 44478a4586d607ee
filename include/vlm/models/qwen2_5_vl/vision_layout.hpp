// Index bookkeeping of the Qwen2.5-VL vision tower (spec 3.7, 4.2-4.4), all integers (L0).
//   patch_positions: (y, x) patch coordinates of each pixel_values row. Rows come in 2x2
//     merge units (raster over units), so for grid (1, 4, 6) the rows are
//     (0,0) (0,1) (1,0) (1,1) | (0,2) (0,3) (1,2) (1,3) | (0,4) (0,5) (1,4) (1,5) | (2,0) ...
//   window_partition: the order in which merge units are visited window by window (windows of
//     vw x vw units, vw = window_size / merge / patch), and the cumulative patch counts at
//     window ends (empty windows dropped). Example, grid (1, 12, 20): units 6 x 10, padded to
//     8 x 12, 2 x 3 windows; window_index starts 0 1 2 3 10 11 12 13 20 21 22 23 30 31 32 33 |
//     4 5 6 7 14 ...; cu_window_seqlens = [0, 64, 128, 160, 192, 224, 240].
//   frame_segments: one full-attention segment per frame per image: [0, gh*gw, ...].
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm::qwen2_5_vl {

// An image's (or video's) patch grid: t frames of h x w patches (14-px patches, merged 2x2
// into LLM tokens). transformers' image_grid_thw rows.
struct grid_thw {
  std::int64_t t = 1, h = 0, w = 0;
  std::int64_t patches() const { return t * h * w; }
  friend bool operator==(const grid_thw&, const grid_thw&) = default;
};

struct patch_positions {
  std::vector<std::int64_t> y, x;
};

inline patch_positions patch_positions_of(const std::vector<grid_thw>& grids, std::int64_t merge) {
  patch_positions p;
  for (const auto& [t, gh, gw] : grids)
    for (std::int64_t ti = 0; ti < t; ++ti)
      for (std::int64_t bh = 0; bh < gh / merge; ++bh)
        for (std::int64_t bw = 0; bw < gw / merge; ++bw)
          for (std::int64_t mh = 0; mh < merge; ++mh)
            for (std::int64_t mw = 0; mw < merge; ++mw) {
              p.y.push_back(bh * merge + mh);
              p.x.push_back(bw * merge + mw);
            }
  return p;
}

struct window_layout {
  std::vector<std::int64_t> window_index;       // merge-unit order (a permutation)
  std::vector<std::int32_t> cu_window_seqlens;  // in patches, consecutive duplicates removed
};

inline window_layout window_partition(const std::vector<grid_thw>& grids, std::int64_t merge, std::int64_t vw) {
  window_layout w;
  w.cu_window_seqlens.push_back(0);
  const std::int64_t unit = merge * merge;
  std::int64_t offset = 0;
  for (const auto& [t, gh, gw] : grids) {
    VLM_CHECK_AS(shape_error, gh % merge == 0 && gw % merge == 0, "image grid ", gh, "x", gw,
                 " is not a multiple of the merge size ", merge);
    const std::int64_t lh = gh / merge, lw = gw / merge;
    const std::int64_t nwh = (lh + vw - lh % vw) / vw, nww = (lw + vw - lw % vw) / vw;  // a full pad window when divisible
    for (std::int64_t ti = 0; ti < t; ++ti)
      for (std::int64_t a = 0; a < nwh; ++a)
        for (std::int64_t b = 0; b < nww; ++b) {
          std::int64_t count = 0;
          for (std::int64_t Y = a * vw; Y < std::min((a + 1) * vw, lh); ++Y)
            for (std::int64_t X = b * vw; X < std::min((b + 1) * vw, lw); ++X) {
              w.window_index.push_back(offset + ti * lh * lw + Y * lw + X);
              ++count;
            }
          std::int32_t end = w.cu_window_seqlens.back() + static_cast<std::int32_t>(count * unit);
          if (end != w.cu_window_seqlens.back()) w.cu_window_seqlens.push_back(end);
        }
    offset += t * lh * lw;
  }
  return w;
}

inline std::vector<std::int32_t> frame_segments(const std::vector<grid_thw>& grids) {
  std::vector<std::int32_t> cu{0};
  for (const auto& [t, gh, gw] : grids)
    for (std::int64_t ti = 0; ti < t; ++ti) cu.push_back(cu.back() + static_cast<std::int32_t>(gh * gw));
  return cu;
}

// Patch-row permutation that applies a merge-unit permutation (each unit = `unit` rows).
inline std::vector<std::int64_t> expand_units(const std::vector<std::int64_t>& unit_order, std::int64_t unit) {
  std::vector<std::int64_t> rows;
  rows.reserve(unit_order.size() * static_cast<std::size_t>(unit));
  for (auto u : unit_order)
    for (std::int64_t k = 0; k < unit; ++k) rows.push_back(u * unit + k);
  return rows;
}

inline std::vector<std::int64_t> inverse_permutation(const std::vector<std::int64_t>& p) {
  std::vector<std::int64_t> inv(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) inv[static_cast<std::size_t>(p[i])] = static_cast<std::int64_t>(i);
  return inv;
}

}  // namespace vlm::qwen2_5_vl
