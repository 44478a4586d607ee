// Bicubic resize of an 8-bit RGB image, two variants:
//   resize_bicubic_pillow     -- byte-exact with Pillow Image.resize(size, BICUBIC), reducing_gap=None
//                                (src/libImaging/Resample.c): separable, horizontal pass first into an
//                                8-bit intermediate, 22-bit fixed-point weights, passes skipped for
//                                unchanged axes. The HF slow (PIL) processor and qwen-vl-utils use it.
//   resize_bicubic_antialias  -- PyTorch interpolate(mode="bicubic", antialias=True) on float32 data,
//                                then clamp and round-half-even to uint8: what torchvision's resize
//                                does for float/GPU tensors (the HF "fast" processor on a GPU).
// Both use Keys' cubic with a = -0.5 and widen the kernel by the scale when downsampling.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "vlm/core/error.hpp"
#include "vlm/io/image.hpp"

namespace vlm::io {

namespace detail {

// Forces a rounding to double. Compilers may otherwise fuse a*b+c into one FMA (GCC's default
// -ffp-contract=fast with -march=native), which moves a weight by an ulp and, rarely, a fixed-point
// weight by one; Pillow's x86-64 wheels are built without FMA.
inline double rounded(double x) {
  volatile double v = x;
  return v;
}
inline float rounded(float x) {
  volatile float v = x;
  return v;
}

// Keys cubic convolution kernel, a = -0.5, in Pillow's operation order (Resample.c bicubic_filter).
inline double pillow_bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return rounded(rounded(rounded((a + 2.0) * x) - (a + 3.0)) * x * x) + 1;
  if (x < 2.0) return rounded(rounded(rounded(rounded(x - 5) * x) + 8) * x - 4) * a;
  return 0.0;
}

// The same kernel in PyTorch's order and precision (UpSampleKernel.cpp HelperInterpCubic::aa_filter,
// cubic_convolution1/2 from UpSample.h).
inline float torch_bicubic_kernel(float x) {
  constexpr float a = -0.5f;
  x = std::abs(x);
  if (x < 1.0f) return rounded(rounded(rounded((a + 2) * x) - (a + 3)) * x * x) + 1;
  if (x < 2.0f) return rounded(rounded(rounded(rounded(a * x) - 5 * a) * x) + 8 * a) * x - 4 * a;
  return 0.0f;
}

// Per output index o: input taps [first[o], first[o] + count[o]) with weights
// weights[o * ksize + k], normalised to sum 1.
template <class Real>
struct resample_taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<Real> weights;
};

// Pillow precompute_coeffs with box = the whole axis; all in double.
inline resample_taps<double> pillow_taps(int in_size, int out_size) {
  resample_taps<double> t;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  const double ss = 1.0 / filterscale;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.ksize), 0.0);
  for (int o = 0; o < out_size; ++o) {
    const double center = rounded((o + 0.5) * scale);
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    double* w = &t.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(t.ksize)];
    double sum = 0.0;
    for (int k = 0; k < hi - lo; ++k) {
      w[k] = rounded(pillow_bicubic_kernel((k + lo - center + 0.5) * ss));
      sum += w[k];
    }
    if (sum != 0.0)
      for (int k = 0; k < hi - lo; ++k) w[k] /= sum;
    t.first[static_cast<std::size_t>(o)] = lo;
    t.count[static_cast<std::size_t>(o)] = hi - lo;
  }
  return t;
}

// PyTorch _compute_indices_min_size_weights_aa for float input: float storage with the
// double-precision intermediates that the C++ source's mixed float/double expressions produce.
inline resample_taps<float> torch_aa_taps(int in_size, int out_size) {
  resample_taps<float> t;
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float support = scale >= 1.0f ? static_cast<float>(2.0 * scale) : 2.0f;
  const float invscale = scale >= 1.0f ? static_cast<float>(1.0 / scale) : 1.0f;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.ksize), 0.0f);
  for (int o = 0; o < out_size; ++o) {
    const float center = static_cast<float>(rounded(scale * (o + 0.5)));
    const int lo = std::max(static_cast<int>(static_cast<double>(center - support) + 0.5), 0);
    int n = std::min(static_cast<int>(static_cast<double>(center + support) + 0.5), in_size) - lo;
    n = std::clamp(n, 0, t.ksize);
    float* w = &t.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(t.ksize)];
    float sum = 0.0f;
    for (int k = 0; k < n; ++k) {
      const double arg = (static_cast<double>(static_cast<float>(k + lo) - center) + 0.5) * invscale;
      w[k] = rounded(torch_bicubic_kernel(static_cast<float>(arg)));
      sum = rounded(sum + w[k]);
    }
    if (sum != 0.0f)
      for (int k = 0; k < n; ++k) w[k] /= sum;
    t.first[static_cast<std::size_t>(o)] = lo;
    t.count[static_cast<std::size_t>(o)] = n;
  }
  return t;
}

inline constexpr int pillow_precision_bits = 22;  // 32 - 8 - 2: 8-bit result, 2 bits of headroom

// Pillow normalize_coeffs_8bpc: round half away from zero to 22-bit fixed point.
inline std::vector<std::int32_t> fixed_point(const std::vector<double>& w) {
  std::vector<std::int32_t> k(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double s = w[i] * (1 << pillow_precision_bits);
    k[i] = static_cast<std::int32_t>(w[i] < 0 ? -0.5 + s : 0.5 + s);
  }
  return k;
}

inline std::uint8_t clip8(std::int32_t acc) {
  return static_cast<std::uint8_t>(std::clamp(acc >> pillow_precision_bits, 0, 255));  // arithmetic shift
}

// One Pillow 8-bit pass along x (horizontal) or y (vertical) over RGB data [h, w, 3].
inline image pillow_pass(const image& in, int out_size, bool horizontal) {
  const int in_size = horizontal ? in.width : in.height;
  const auto taps = pillow_taps(in_size, out_size);
  const auto k = fixed_point(taps.weights);
  image out{horizontal ? out_size : in.width, horizontal ? in.height : out_size, {}};
  out.rgb.resize(static_cast<std::size_t>(out.width) * static_cast<std::size_t>(out.height) * 3);
  // Element stride (in bytes) between neighbouring taps.
  const std::size_t step = horizontal ? 3 : static_cast<std::size_t>(in.width) * 3;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const std::size_t base = horizontal
                                   ? (static_cast<std::size_t>(y) * static_cast<std::size_t>(in.width)) * 3
                                   : static_cast<std::size_t>(x) * 3;
      const std::int32_t* kk = &k[static_cast<std::size_t>(o) * static_cast<std::size_t>(taps.ksize)];
      const std::size_t first = static_cast<std::size_t>(taps.first[static_cast<std::size_t>(o)]);
      for (int c = 0; c < 3; ++c) {
        std::int32_t acc = 1 << (pillow_precision_bits - 1);
        const std::uint8_t* p = &in.rgb[base + first * step + static_cast<std::size_t>(c)];
        for (int t = 0; t < taps.count[static_cast<std::size_t>(o)]; ++t)
          acc += static_cast<std::int32_t>(p[static_cast<std::size_t>(t) * step]) * kk[t];
        out.rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(out.width) + static_cast<std::size_t>(x)) * 3 +
                static_cast<std::size_t>(c)] = clip8(acc);
      }
    }
  return out;
}

// One float32 PyTorch anti-aliased pass (no rounding between passes).
inline std::vector<float> antialias_pass(const std::vector<float>& in, int w, int h, int out_size, bool horizontal) {
  const auto taps = torch_aa_taps(horizontal ? w : h, out_size);
  const int ow = horizontal ? out_size : w, oh = horizontal ? h : out_size;
  std::vector<float> out(static_cast<std::size_t>(ow) * static_cast<std::size_t>(oh) * 3);
  const std::size_t step = horizontal ? 3 : static_cast<std::size_t>(w) * 3;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      const int o = horizontal ? x : y;
      const std::size_t base =
          horizontal ? static_cast<std::size_t>(y) * static_cast<std::size_t>(w) * 3 : static_cast<std::size_t>(x) * 3;
      const float* kk = &taps.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(taps.ksize)];
      const std::size_t first = static_cast<std::size_t>(taps.first[static_cast<std::size_t>(o)]);
      for (int c = 0; c < 3; ++c) {
        const float* p = &in[base + first * step + static_cast<std::size_t>(c)];
        float acc = rounded(p[0] * kk[0]);
        for (int t = 1; t < taps.count[static_cast<std::size_t>(o)]; ++t)
          acc = rounded(acc + rounded(p[static_cast<std::size_t>(t) * step] * kk[t]));
        out[(static_cast<std::size_t>(y) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(x)) * 3 +
            static_cast<std::size_t>(c)] = acc;
      }
    }
  return out;
}

inline void check_sizes(const image& src, int out_width, int out_height) {
  VLM_CHECK_AS(shape_error, src.width > 0 && src.height > 0 && out_width > 0 && out_height > 0, "[resize] sizes ",
               src.width, "x", src.height, " -> ", out_width, "x", out_height, " must be positive");
  VLM_CHECK_AS(shape_error,
               src.rgb.size() == static_cast<std::size_t>(src.width) * static_cast<std::size_t>(src.height) * 3,
               "[resize] image ", src.width, "x", src.height, " holds ", src.rgb.size(), " bytes, expected ",
               static_cast<std::size_t>(src.width) * static_cast<std::size_t>(src.height) * 3);
}

}  // namespace detail

// Which axis Pillow resamples first. The 8-bit intermediate makes the order visible in the bytes.
enum class pillow_pass_order {
  // Pillow <= 12.x: always horizontal, then vertical (the shared golden data: Pillow 9.4).
  horizontal_first,
  // Pillow >= 13.0 (PR #9739): vertical first when the height shrinks by more than twice as many
  // pixels as the width, i.e. (h_in - h_out) > 0 && (h_in - h_out) > 2 * (w_in - w_out).
  pillow13,
};

// Pillow-exact BICUBIC resize (L1 conformance: identical bytes for the chosen Pillow generation).
// Not reproduced: the later Pillow main-branch extra pass for images taller than 100x their width.
// throws: shape_error for empty sizes or an inconsistent image.
inline image resize_bicubic_pillow(const image& src, int out_width, int out_height,
                                   pillow_pass_order order = pillow_pass_order::horizontal_first) {
  detail::check_sizes(src, out_width, out_height);
  const bool need_h = out_width != src.width, need_v = out_height != src.height;
  const int shrink_v = src.height - out_height, shrink_h = src.width - out_width;
  if (order == pillow_pass_order::pillow13 && shrink_v > 0 && shrink_v > 2 * shrink_h) {
    image tmp = need_v ? detail::pillow_pass(src, out_height, false) : src;
    return need_h ? detail::pillow_pass(tmp, out_width, true) : tmp;
  }
  // Pillow resamples only the rows the vertical pass reads; computing all rows gives the same
  // bytes for those rows, and the others are never read.
  image tmp = need_h ? detail::pillow_pass(src, out_width, true) : src;
  return need_v ? detail::pillow_pass(tmp, out_height, false) : tmp;
}

// torchvision resize(BICUBIC, antialias=True) on a float tensor: float32 separable passes
// (width first, as PyTorch's separable AA kernel), then clamp to [0, 255] and round half to even.
// Approximate: PyTorch's weights differ from this float emulation by ~1e-6 relative, so about
// 1 byte in 10^4 lands +-1 off after rounding. PyTorch's native uint8 CPU kernel (what torchvision
// uses for uint8 tensors on CPU) is a third, fixed-point variant not reproduced here.
inline image resize_bicubic_antialias(const image& src, int out_width, int out_height) {
  detail::check_sizes(src, out_width, out_height);
  if (out_width == src.width && out_height == src.height) return src;
  std::vector<float> v(src.rgb.begin(), src.rgb.end());
  int w = src.width;
  if (out_width != w) {
    v = detail::antialias_pass(v, w, src.height, out_width, true);
    w = out_width;
  }
  if (out_height != src.height) v = detail::antialias_pass(v, w, src.height, out_height, false);
  image out{out_width, out_height, std::vector<std::uint8_t>(v.size())};
  for (std::size_t i = 0; i < v.size(); ++i)
    out.rgb[i] = static_cast<std::uint8_t>(std::nearbyint(std::clamp(v[i], 0.0f, 255.0f)));
  return out;
}

}  // namespace vlm::io
