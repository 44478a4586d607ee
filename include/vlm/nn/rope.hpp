// Rotary tables (cos, sin), one row per token, for the NeoX-style apply_rotary.
//   inv_freq(dim, theta)[j] = 1 / theta^(2j/dim), j < dim/2, computed in f32 as transformers does.
//   mrope_tables: Qwen2.5-VL text M-RoPE. positions [3, N] (t, h, w rows). Frequency j takes
//     its position from axis t for j < s0, h for s0 <= j < s0+s1, w after (mrope_section
//     [s0, s1, s2], sum = D/2); the index does not restart per section. Worked example, D = 16,
//     sections [2, 3, 3]: dims 0-1 and 8-9 rotate with t, 2-4 and 10-12 with h, 5-7 and 13-15 with w.
//   vision_rope_tables: the ViT's 2-D rope. For head dim D, D/4 frequencies 1/theta^(2k/(D/2));
//     angles = [y * f_0..f_{D/4-1}, x * f_0..f_{D/4-1}] then duplicated to D: dims [0, D/4) and
//     [D/2, 3D/4) rotate with the patch row y, the others with the patch column x.
#pragma once
#include <cmath>
#include <span>
#include <vector>

#include "vlm/core/tensor.hpp"

namespace vlm::nn {

struct rope_tables {
  tensor<float, cpu> cos, sin;  // [N, D]
};

inline std::vector<float> inv_freq(std::int64_t dim, float theta) {
  std::vector<float> f(static_cast<std::size_t>(dim / 2));
  for (std::int64_t j = 0; j < dim / 2; ++j)
    f[static_cast<std::size_t>(j)] = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(dim));
  return f;
}

namespace detail {
// Fills row n of cos/sin from per-frequency angles (length D/2), duplicated to D.
inline void fill_rope_row(rope_tables& t, std::int64_t n, std::span<const float> angles) {
  const std::int64_t half = static_cast<std::int64_t>(angles.size()), D = 2 * half;
  float* c = t.cos.data() + n * D;
  float* s = t.sin.data() + n * D;
  for (std::int64_t j = 0; j < half; ++j) {
    c[j] = c[j + half] = std::cos(angles[static_cast<std::size_t>(j)]);
    s[j] = s[j + half] = std::sin(angles[static_cast<std::size_t>(j)]);
  }
}
}  // namespace detail

// positions: [3, N] int64 (row-major); returns [N, head_dim] tables.
inline rope_tables mrope_tables(const tensor<std::int64_t, cpu>& positions, std::int64_t head_dim, float theta,
                                std::span<const std::int64_t> mrope_section) {
  const std::int64_t N = positions.size(1), half = head_dim / 2;
  std::int64_t total = 0;
  for (auto s : mrope_section) total += s;
  VLM_CHECK_AS(shape_error, positions.dim() == 2 && positions.size(0) == 3, "mrope positions must be [3, N], got ",
               positions.shape().str());
  VLM_CHECK_AS(config_error, total == half, "mrope_section sums to ", total, ", expected head_dim/2 = ", half);
  auto f = inv_freq(head_dim, theta);
  std::vector<int> axis(static_cast<std::size_t>(half));
  for (std::int64_t j = 0, a = 0, end = mrope_section[0]; j < half; ++j) {
    while (j >= end) end += mrope_section[static_cast<std::size_t>(++a)];
    axis[static_cast<std::size_t>(j)] = static_cast<int>(a);
  }
  auto pc = positions.contiguous();
  rope_tables t{tensor<float, cpu>::empty({N, head_dim}), tensor<float, cpu>::empty({N, head_dim})};
  std::vector<float> ang(static_cast<std::size_t>(half));
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t j = 0; j < half; ++j) {
      auto a = static_cast<std::size_t>(axis[static_cast<std::size_t>(j)]);
      ang[static_cast<std::size_t>(j)] = static_cast<float>(pc.data()[static_cast<std::int64_t>(a) * N + n]) * f[static_cast<std::size_t>(j)];
    }
    detail::fill_rope_row(t, n, ang);
  }
  return t;
}

// rows: (y, x) per token; returns [N, head_dim] tables.
inline rope_tables vision_rope_tables(std::span<const std::int64_t> ys, std::span<const std::int64_t> xs,
                                      std::int64_t head_dim, float theta = 10000.f) {
  const std::int64_t N = static_cast<std::int64_t>(ys.size()), quarter = head_dim / 4;
  auto f = inv_freq(head_dim / 2, theta);  // quarter frequencies
  rope_tables t{tensor<float, cpu>::empty({N, head_dim}), tensor<float, cpu>::empty({N, head_dim})};
  std::vector<float> ang(static_cast<std::size_t>(2 * quarter));
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t k = 0; k < quarter; ++k) {
      ang[static_cast<std::size_t>(k)] = static_cast<float>(ys[static_cast<std::size_t>(n)]) * f[static_cast<std::size_t>(k)];
      ang[static_cast<std::size_t>(quarter + k)] = static_cast<float>(xs[static_cast<std::size_t>(n)]) * f[static_cast<std::size_t>(k)];
    }
    detail::fill_rope_row(t, n, ang);
  }
  return t;
}

}  // namespace vlm::nn
