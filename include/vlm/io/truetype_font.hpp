// A TrueType/OpenType font file (.ttf, or the first face of a .ttc collection) rasterised with
// stb_truetype: glyph coverage bitmaps at a pixel size, and the metrics to place them on a
// baseline. Debian's libstb holds the stb_truetype implementation, so no TU of ours defines
// STB_TRUETYPE_IMPLEMENTATION. The font bytes stay in memory for the object's lifetime; a
// const truetype_font may be shared by threads (stb_truetype only reads the font data).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <stb_truetype.h>  // defines: stbtt_InitFont, stbtt_MakeCodepointBitmap, ...

#include "vlm/core/error.hpp"

namespace vlm::io {

// One rasterised glyph: coverage 0..255, row-major width x height, placed with its top-left
// corner at (origin_x + left, baseline + top) (top is negative for ink above the baseline).
struct glyph_bitmap {
  int width = 0, height = 0;
  int left = 0, top = 0;
  float advance = 0;  // pen movement to the next glyph, px
  std::vector<std::uint8_t> coverage;
};

class truetype_font {
 public:
  // throws: io_error when the file cannot be read; format_error when it is not a font stb_truetype parses.
  explicit truetype_font(const std::filesystem::path& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<io_error>("[font] cannot open '", path.string(), "'");
    bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const auto* data = reinterpret_cast<const unsigned char*>(bytes_.data());
    const int offset = bytes_.size() >= 12 ? stbtt_GetFontOffsetForIndex(data, 0) : -1;
    if (offset < 0 || !stbtt_InitFont(&info_, data, offset))
      fail<format_error>("[font] '", path.string(), "' (", bytes_.size(),
                         " bytes) is not a TrueType/OpenType font or collection");
    stbtt_GetFontVMetrics(&info_, &ascent_, &descent_, &line_gap_);
  }
  truetype_font(const truetype_font&) = delete;
  truetype_font& operator=(const truetype_font&) = delete;

  const std::filesystem::path& path() const { return path_; }
  bool has_glyph(char32_t cp) const { return stbtt_FindGlyphIndex(&info_, static_cast<int>(cp)) != 0; }

  // Scale that makes ascent - descent equal `pixel_height` px.
  float scale_for(float pixel_height) const { return pixel_height / static_cast<float>(ascent_ - descent_); }
  float ascent_px(float pixel_height) const { return static_cast<float>(ascent_) * scale_for(pixel_height); }

  // The glyph of `cp` at `pixel_height`; an empty bitmap for blank glyphs (space).
  //   requires: has_glyph(cp)
  glyph_bitmap render(char32_t cp, float pixel_height) const {
    const float s = scale_for(pixel_height);
    glyph_bitmap g;
    int advance = 0, lsb = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetCodepointHMetrics(&info_, static_cast<int>(cp), &advance, &lsb);
    stbtt_GetCodepointBitmapBox(&info_, static_cast<int>(cp), s, s, &x0, &y0, &x1, &y1);
    g.advance = static_cast<float>(advance) * s;
    g.left = x0;
    g.top = y0;
    g.width = x1 - x0;
    g.height = y1 - y0;
    if (g.width <= 0 || g.height <= 0) {
      g.width = g.height = 0;
      return g;
    }
    g.coverage.resize(static_cast<std::size_t>(g.width) * static_cast<std::size_t>(g.height));
    stbtt_MakeCodepointBitmap(&info_, g.coverage.data(), g.width, g.height, g.width, s, s, static_cast<int>(cp));
    return g;
  }

 private:
  std::filesystem::path path_;
  std::vector<char> bytes_;
  stbtt_fontinfo info_{};
  int ascent_ = 0, descent_ = 0, line_gap_ = 0;
};

// The first existing file of `candidates`, or an empty path.
inline std::filesystem::path first_existing(std::initializer_list<const char*> candidates) {
  for (const char* c : candidates)
    if (std::filesystem::exists(c)) return c;
  return {};
}

// A CJK font from the usual Debian packages (fonts-wqy-microhei first, as vlm's installer
// sets up), or an empty path when none is installed.
inline std::filesystem::path default_cjk_font() {
  return first_existing({"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
                         "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                         "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"});
}

}  // namespace vlm::io
