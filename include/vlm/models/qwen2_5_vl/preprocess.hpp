// Qwen2.5-VL image preprocessing (spec qwen2_5_vl.md §3), matching transformers'
// Qwen2VLImageProcessor (slow/PIL by default) and optionally qwen-vl-utils' fetch_image first:
//   RGB image -> smart_resize -> bicubic resize -> rescale + CLIP normalise -> 2 identical frames
//   -> patch flatten. Output: pixel_values [P, 3*2*14*14 = 1176] (f32), image_grid_thw [n, 3] (i64).
// Row order of pixel_values is 2x2 merge units in raster order (§3.7), not raster patches.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/models/qwen2_5_vl/vision_layout.hpp"
#include "vlm/core/error.hpp"
#include "vlm/core/tensor.hpp"
#include "vlm/io/image.hpp"
#include "vlm/io/resize_bicubic.hpp"

namespace vlm::qwen2_5_vl {

// preprocessor_config.json. Member defaults are the published Qwen2.5-VL checkpoint file (§1.2).
struct image_processor_config {
  std::int64_t min_pixels = 56 * 56;              // 3136
  std::int64_t max_pixels = 16384 * 28 * 28;      // 12845056
  int patch_size = 14;
  int temporal_patch_size = 2;
  int merge_size = 2;
  std::array<double, 3> image_mean{0.48145466, 0.4578275, 0.40821073};   // OpenAI CLIP
  std::array<double, 3> image_std{0.26862954, 0.26130258, 0.27577711};
  double rescale_factor = 1.0 / 255.0;

  int factor() const { return patch_size * merge_size; }  // 28: resized sides are multiples of it
  int patch_dim() const { return 3 * temporal_patch_size * patch_size * patch_size; }  // 1176

  // Keys missing from the file take transformers' class defaults, which differ from the
  // checkpoint file: min 56*56, max 28*28*1280. min_pixels/max_pixels win over
  // size.shortest_edge/longest_edge (older files have only the former, newer ones only the latter).
  // throws: config_error naming the key.
  static image_processor_config from_json(const nlohmann::json& j);
  // throws: io_error if unreadable, config_error if it does not parse or a value is invalid.
  static image_processor_config load(const std::string& path);
};

// ---- smart_resize (§3.3) ---------------------------------------------------------------------

enum class smart_resize_variant {
  hf_processor,   // transformers: no lower clamp after rounding (v4.51 also rejects sides < 28; we don't)
  qwen_vl_utils,  // qwen-vl-utils: each rounded side clamped to >= factor
};

struct image_size {
  int height = 0;
  int width = 0;
  friend bool operator==(const image_size&, const image_size&) = default;
};

namespace detail {

// Python round(): half to even. x - floor(x) is exact for the magnitudes used here.
inline double python_round(double x) {
  const double f = std::floor(x);
  const double d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1;
}

}  // namespace detail

// (height, width) after smart_resize: multiples of `factor`, area pulled into [min, max] keeping
// the aspect ratio. Double arithmetic in exactly the reference order (a reordering can land one
// step of 28 off, e.g. 29x29 under min 200704 must give 448x448).
// throws: shape_error if a side is < 1, the aspect ratio exceeds 200, or a side comes out 0.
inline image_size smart_resize(int height, int width, int factor, std::int64_t min_pixels, std::int64_t max_pixels,
                               smart_resize_variant variant = smart_resize_variant::hf_processor) {
  VLM_CHECK_AS(shape_error, height >= 1 && width >= 1, "[smart_resize] image ", width, "x", height,
               " (WxH) is empty");
  const double h = height, w = width, f = factor;
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  VLM_CHECK_AS(shape_error, ratio <= 200.0, "[smart_resize] absolute aspect ratio must be at most 200, got ", ratio,
               " for ", width, "x", height, " (WxH)");
  std::int64_t hb = static_cast<std::int64_t>(detail::python_round(h / f)) * factor;
  std::int64_t wb = static_cast<std::int64_t>(detail::python_round(w / f)) * factor;
  if (variant == smart_resize_variant::qwen_vl_utils) {
    hb = std::max<std::int64_t>(hb, factor);
    wb = std::max<std::int64_t>(wb, factor);
  }
  const double area = static_cast<double>(static_cast<std::int64_t>(height) * width);
  if (hb * wb > max_pixels) {
    const double beta = std::sqrt(area / static_cast<double>(max_pixels));
    hb = static_cast<std::int64_t>(std::floor(h / beta / f)) * factor;
    wb = static_cast<std::int64_t>(std::floor(w / beta / f)) * factor;
  } else if (hb * wb < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / area);
    hb = static_cast<std::int64_t>(std::ceil(h * beta / f)) * factor;
    wb = static_cast<std::int64_t>(std::ceil(w * beta / f)) * factor;
  }
  VLM_CHECK_AS(shape_error, hb >= factor && wb >= factor, "[smart_resize] ", width, "x", height,
               " (WxH) resizes to ", wb, "x", hb, " with min_pixels ", min_pixels, ", max_pixels ", max_pixels,
               ". Hint: min_pixels must be at least ", factor, "*", factor);
  return {static_cast<int>(hb), static_cast<int>(wb)};
}

// ---- options ---------------------------------------------------------------------------------

enum class resize_filter {
  pillow_bicubic,       // HF slow/PIL processor, qwen-vl-utils (L1 exact)
  torch_aa_bicubic,     // HF fast processor on float tensors (GPU): torchvision antialias bicubic
};

enum class normalize_arithmetic {
  hf_slow,  // float32(double(u) * rescale_factor), then (r - mean) / std in float32
  hf_fast,  // (float32(u) - mean*255) / (std*255), constants fused in float32 like torchvision
};

// First step of the seed pipeline: qwen-vl-utils fetch_image (always Pillow bicubic) with its own
// limits, before the processor's smart_resize and resize (§3.1). When both sizes agree the
// second resize is an identity; otherwise the image is resampled twice, as in Python.
struct qwen_vl_utils_resize {
  std::int64_t min_pixels = 4 * 28 * 28;       // IMAGE_MIN_TOKEN_NUM * 28^2, or the message's min_pixels
  std::int64_t max_pixels = 16384 * 28 * 28;   // IMAGE_MAX_TOKEN_NUM * 28^2, or the message's max_pixels
  // A message's resized_height/resized_width (both or neither): passed through smart_resize with
  // the default limits above, as qwen-vl-utils does.
  std::optional<int> resized_height, resized_width;
};

struct preprocess_options {
  resize_filter filter = resize_filter::pillow_bicubic;
  // Pillow generation to match, for every Pillow resize (processor and fetch_image).
  io::pillow_pass_order pillow_order = io::pillow_pass_order::horizontal_first;
  normalize_arithmetic arithmetic = normalize_arithmetic::hf_slow;
  std::optional<qwen_vl_utils_resize> fetch_image;  // unset: HF processor only (pipeline 1)
};

// grid_thw (t, h, w in patches) is defined in vision_layout.hpp, shared with the vision tower.

struct processed_images {
  vlm::tensor<float, cpu> pixel_values;           // [P, 1176], images' rows concatenated
  vlm::tensor<std::int64_t, cpu> image_grid_thw;  // [n_images, 3]
  std::vector<grid_thw> grids;                     // same, as structs
};

// ---- steps -----------------------------------------------------------------------------------

// The resized uint8 image that the processor patchifies (both resizes of the seed pipeline
// when options.fetch_image is set).
inline io::image resize_for_model(const io::image& img, const image_processor_config& cfg,
                                  const preprocess_options& opt = {}) {
  io::image cur = img;
  if (opt.fetch_image) {
    const qwen_vl_utils_resize& u = *opt.fetch_image;
    VLM_CHECK_AS(config_error, u.resized_height.has_value() == u.resized_width.has_value(),
                 "[qwen_vl_utils] resized_height and resized_width must be given together");
    const qwen_vl_utils_resize defaults{};
    const image_size s =
        u.resized_height ? smart_resize(*u.resized_height, *u.resized_width, cfg.factor(), defaults.min_pixels,
                                        defaults.max_pixels, smart_resize_variant::qwen_vl_utils)
                         : smart_resize(cur.height, cur.width, cfg.factor(), u.min_pixels, u.max_pixels,
                                        smart_resize_variant::qwen_vl_utils);
    cur = io::resize_bicubic_pillow(cur, s.width, s.height, opt.pillow_order);
  }
  const image_size s = smart_resize(cur.height, cur.width, cfg.factor(), cfg.min_pixels, cfg.max_pixels);
  if (s.height == cur.height && s.width == cur.width) return cur;  // both libraries copy unchanged
  return opt.filter == resize_filter::pillow_bicubic ? io::resize_bicubic_pillow(cur, s.width, s.height, opt.pillow_order)
                                                      : io::resize_bicubic_antialias(cur, s.width, s.height);
}

// Per-channel lookup: normalised float for each uint8 value (the maps are pure functions of u).
inline std::array<std::array<float, 256>, 3> normalize_table(const image_processor_config& cfg,
                                                             normalize_arithmetic arith) {
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(cfg.image_mean[static_cast<std::size_t>(c)]);
    const float stdv = static_cast<float>(cfg.image_std[static_cast<std::size_t>(c)]);
    // torchvision path: mean/std tensors (float32) times 1/rescale_factor, in float32.
    const float inv_rescale = static_cast<float>(1.0 / cfg.rescale_factor);
    const float mean_f = mean * inv_rescale, std_f = stdv * inv_rescale;
    for (int u = 0; u < 256; ++u) {
      float v;
      if (arith == normalize_arithmetic::hf_slow) {
        const float r = static_cast<float>(static_cast<double>(u) * cfg.rescale_factor);
        v = (r - mean) / stdv;
      } else {
        v = (static_cast<float>(u) - mean_f) / std_f;
      }
      lut[static_cast<std::size_t>(c)][static_cast<std::size_t>(u)] = v;
    }
  }
  return lut;
}

// Appends the rows of one resized image to `out` (§3.6 + §3.7).
// Row r = ((bh * gw/2 + bw) * 2 + mh) * 2 + mw for patch (y = 2bh + mh, x = 2bw + mw);
// column q = ((c * 2 + tp) * 14 + py) * 14 + px. Both temporal frames are the same image.
// Example, 84x56 image, grid (1,4,6): rows 0-3 = patches (0,0),(0,1),(1,0),(1,1); rows 4-7 =
// (0,2),(0,3),(1,2),(1,3); element [5, 1175] is B of frame 1 at pixel (row 13, col 55).
inline grid_thw patchify(const io::image& img, const image_processor_config& cfg,
                         const std::array<std::array<float, 256>, 3>& lut, std::vector<float>& out) {
  const int p = cfg.patch_size, m = cfg.merge_size, tps = cfg.temporal_patch_size;
  VLM_CHECK_AS(shape_error, img.height % (p * m) == 0 && img.width % (p * m) == 0, "[patchify] image ", img.width,
               "x", img.height, " (WxH) is not a multiple of ", p * m);
  const grid_thw g{1, img.height / p, img.width / p};
  const std::size_t dim = static_cast<std::size_t>(cfg.patch_dim());
  std::size_t row = out.size() / dim;
  out.resize(out.size() + static_cast<std::size_t>(g.patches()) * dim);
  for (std::int64_t bh = 0; bh < g.h / m; ++bh)
    for (std::int64_t bw = 0; bw < g.w / m; ++bw)
      for (int mh = 0; mh < m; ++mh)
        for (int mw = 0; mw < m; ++mw, ++row) {
          const std::int64_t y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
          float* dst = &out[row * dim];
          for (int c = 0; c < 3; ++c)
            for (int tp = 0; tp < tps; ++tp)
              for (int py = 0; py < p; ++py)
                for (int px = 0; px < p; ++px)
                  *dst++ = lut[static_cast<std::size_t>(c)]
                              [img.at(static_cast<int>(y0 + py), static_cast<int>(x0 + px), c)];
        }
  return g;
}

// The whole processor on several images: rows concatenated in image order, grids stacked.
// Each image is resized on its own (as HF's preprocess loop does).
// throws: shape_error from smart_resize (aspect ratio > 200, empty image).
inline processed_images process_images(std::span<const io::image> images, const image_processor_config& cfg,
                                       const preprocess_options& opt = {}) {
  VLM_CHECK_AS(config_error, cfg.temporal_patch_size >= 1 && cfg.patch_size >= 1 && cfg.merge_size >= 1,
               "[qwen2_5_vl] patch_size, temporal_patch_size and merge_size must be positive");
  const auto lut = normalize_table(cfg, opt.arithmetic);
  std::vector<float> rows;
  std::vector<std::int64_t> grid_values;
  processed_images r;
  for (const io::image& img : images) {
    const grid_thw g = patchify(resize_for_model(img, cfg, opt), cfg, lut, rows);
    r.grids.push_back(g);
    grid_values.insert(grid_values.end(), {g.t, g.h, g.w});
  }
  const auto n_rows = static_cast<std::int64_t>(rows.size()) / cfg.patch_dim();
  r.pixel_values = vlm::tensor<float, cpu>::from_host({n_rows, cfg.patch_dim()}, rows);
  r.image_grid_thw = vlm::tensor<std::int64_t, cpu>::from_host({static_cast<std::int64_t>(images.size()), 3},
                                                               grid_values);
  return r;
}

inline processed_images process_image(const io::image& img, const image_processor_config& cfg,
                                      const preprocess_options& opt = {}) {
  return process_images(std::span<const io::image>(&img, 1), cfg, opt);
}

// ---- config loading --------------------------------------------------------------------------

inline image_processor_config image_processor_config::from_json(const nlohmann::json& j) {
  VLM_CHECK_AS(config_error, j.is_object(), "[preprocessor_config] expected a JSON object");
  image_processor_config c;
  c.min_pixels = 56 * 56;
  c.max_pixels = 28 * 28 * 1280;
  try {
    if (j.contains("size") && j["size"].is_object()) {
      const auto& s = j["size"];
      if (s.contains("shortest_edge")) c.min_pixels = s["shortest_edge"].get<std::int64_t>();
      if (s.contains("longest_edge")) c.max_pixels = s["longest_edge"].get<std::int64_t>();
    }
    if (j.contains("min_pixels") && !j["min_pixels"].is_null()) c.min_pixels = j["min_pixels"].get<std::int64_t>();
    if (j.contains("max_pixels") && !j["max_pixels"].is_null()) c.max_pixels = j["max_pixels"].get<std::int64_t>();
    if (j.contains("patch_size")) c.patch_size = j["patch_size"].get<int>();
    if (j.contains("temporal_patch_size")) c.temporal_patch_size = j["temporal_patch_size"].get<int>();
    if (j.contains("merge_size")) c.merge_size = j["merge_size"].get<int>();
    if (j.contains("rescale_factor")) c.rescale_factor = j["rescale_factor"].get<double>();
    if (j.contains("image_mean")) c.image_mean = j["image_mean"].get<std::array<double, 3>>();
    if (j.contains("image_std")) c.image_std = j["image_std"].get<std::array<double, 3>>();
  } catch (const nlohmann::json::exception& e) {
    fail<config_error>("[preprocessor_config] bad value: ", e.what());
  }
  VLM_CHECK_AS(config_error, c.patch_size > 0 && c.temporal_patch_size > 0 && c.merge_size > 0,
               "[preprocessor_config] patch_size, temporal_patch_size, merge_size must be positive, got ",
               c.patch_size, ", ", c.temporal_patch_size, ", ", c.merge_size);
  VLM_CHECK_AS(config_error, c.min_pixels > 0 && c.max_pixels >= c.min_pixels,
               "[preprocessor_config] need 0 < min_pixels <= max_pixels, got ", c.min_pixels, " and ", c.max_pixels);
  for (double s : c.image_std) VLM_CHECK_AS(config_error, s != 0.0, "[preprocessor_config] image_std has a zero");
  return c;
}

inline image_processor_config image_processor_config::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail<io_error>("[preprocessor_config] cannot open '", path, "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    fail<config_error>("[preprocessor_config] '", path, "' does not parse: ", e.what());
  }
  try {
    return from_json(j);
  } catch (const config_error& e) {
    fail<config_error>(e.what(), " (in '", path, "')");
  }
}

}  // namespace vlm::qwen2_5_vl
