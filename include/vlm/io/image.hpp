// vlm::io::image (8-bit RGB, interleaved [height, width, 3]) and load_image / decode_image:
// JPEG, PNG, BMP, GIF (first frame), TGA, PSD, PNM via stb_image (Debian libstb, which holds the
// implementation; no TU of ours defines STB_IMAGE_IMPLEMENTATION).
// Alpha and grey are turned into RGB the way the Python pipelines turn a PIL image into "RGB"
// (spec qwen2_5_vl.md §3.2); the three policies are in rgb_conversion. EXIF orientation is
// ignored, as in transformers and qwen-vl-utils.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <stb_image.h>  // defines: stbi_load_from_memory, stbi_image_free, stbi_failure_reason

#include "vlm/core/error.hpp"

namespace vlm::io {

struct image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;  // [height, width, 3], row-major

  std::uint8_t at(int y, int x, int c) const {
    return rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3 +
               static_cast<std::size_t>(c)];
  }
};

// How a non-RGB decode (grey, grey+alpha, RGBA) becomes RGB.
enum class rgb_conversion {
  // transformers' convert_to_rgb since ~4.52 (and v5): any non-RGB image goes to RGBA, is
  // alpha-composited over opaque white, then converted to RGB. Grey becomes replicated grey.
  alpha_composite_white,
  // qwen-vl-utils' to_rgb: only 4-channel RGBA is pasted over white (same bytes as the
  // composite); every other mode is a plain convert, so grey+alpha loses its alpha.
  qwen_vl_utils,
  // PIL convert("RGB"): alpha dropped. transformers <= 4.51 (and the shared golden data).
  plain_convert,
};

namespace detail {

// Pillow's ImagingAlphaComposite of (c, a) over an opaque white pixel, integer for integer
// (7 extra bits, rounded division by 255). Pillow's Paste.c blend gives the same bytes over
// white for all 65536 (c, a) pairs, so one routine serves both policies.
inline std::uint8_t composite_over_white(std::uint32_t c, std::uint32_t a) {
  if (a == 0) return 255;
  constexpr std::uint32_t bits = 7;
  const std::uint32_t outa255 = a * 255 + 255 * (255 - a);  // = 255 * 255 over an opaque canvas
  const std::uint32_t coef1 = a * 255 * 255 * (1u << bits) / outa255;
  const std::uint32_t coef2 = 255 * (1u << bits) - coef1;
  std::uint32_t t = c * coef1 + 255 * coef2 + (0x80u << bits);
  t = ((t >> 8) + t) >> 8;  // Pillow's SHIFTFORDIV255
  return static_cast<std::uint8_t>(t >> bits);
}

}  // namespace detail

// Converts decoded pixels with `channels` interleaved 8-bit channels (1 grey, 2 grey+alpha,
// 3 RGB, 4 RGBA) to an RGB image.
// throws: format_error for any other channel count.
inline image to_rgb(const std::uint8_t* pixels, int width, int height, int channels, rgb_conversion conv) {
  VLM_CHECK_AS(format_error, channels >= 1 && channels <= 4, "[image] unsupported channel count ", channels,
               " (expected 1-4)");
  image out{width, height, {}};
  const std::size_t n = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  out.rgb.resize(n * 3);
  const bool has_alpha = channels == 2 || channels == 4;
  const bool composite = has_alpha && (conv == rgb_conversion::alpha_composite_white ||
                                       (conv == rgb_conversion::qwen_vl_utils && channels == 4));
  const int colour = channels <= 2 ? 1 : 3;  // grey replicates its one channel
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = pixels + i * static_cast<std::size_t>(channels);
    for (int c = 0; c < 3; ++c) {
      const std::uint8_t v = p[colour == 1 ? 0 : c];
      out.rgb[i * 3 + static_cast<std::size_t>(c)] =
          composite ? detail::composite_over_white(v, p[channels - 1]) : v;
    }
  }
  return out;
}

// Decodes an encoded image held in memory (a file's bytes, a base64-decoded data: URL).
// `name` only labels error messages.
// throws: format_error naming `name` and stb's reason when the bytes do not decode.
inline image decode_image(std::span<const std::uint8_t> bytes,
                          rgb_conversion conv = rgb_conversion::alpha_composite_white,
                          const std::string& name = "<memory>") {
  VLM_CHECK_AS(format_error, !bytes.empty(), "[image] '", name, "' is empty");
  VLM_CHECK_AS(format_error, bytes.size() <= 0x7fffffffu, "[image] '", name, "' is too large (", bytes.size(),
               " bytes)");
  int w = 0, h = 0, n = 0;
  // desired_channels = 0 keeps the file's own channel count, so grey+alpha stays
  // distinguishable from RGBA (the policies treat them differently).
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &n, 0), stbi_image_free);
  if (!px) {
    const char* why = stbi_failure_reason();
    fail<format_error>("[image] cannot decode '", name, "': ", why ? why : "unknown reason",
                       ". Hint: JPEG, PNG, BMP, GIF, TGA, PSD and PNM are supported (no WebP/TIFF).");
  }
  return to_rgb(px.get(), w, h, n, conv);
}

// Reads and decodes an image file.
// throws: io_error when the file cannot be read; format_error when it does not decode.
inline image load_image(const std::string& path, rgb_conversion conv = rgb_conversion::alpha_composite_white) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail<io_error>("[image] cannot open '", path, "': ", std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) fail<io_error>("[image] read error in '", path, "'");
  if (bytes.empty()) fail<io_error>("[image] '", path, "' is empty");
  return decode_image(bytes, conv, path);
}

}  // namespace vlm::io
