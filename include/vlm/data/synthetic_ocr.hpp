// Synthetic OCR data for a first fine-tune without downloads: a built-in 5x7 bitmap font,
// text-line rendering into small RGB images (scaled glyphs, random placement and colours,
// Gaussian noise, optional blur), random receipt-like strings ("¥476.0", "2024-03-15",
// "AB-1234", "TOTAL"), and make_ocr_dataset, which writes PNGs plus train.jsonl / val.jsonl in
// the seed tutorial's row shape {"query", "response", "image_path"}.
// Everything is deterministic given a seed (own splitmix64 generator, no std distributions,
// whose output differs between standard libraries). Image sides are multiples of 28 between
// 112x28 and 224x56, so the Qwen2.5-VL processor leaves them unresized under its defaults
// (min_pixels 3136 = 112x28) and max_pixels 12544 (= 28*28*16 = 224x56): 4 to 16 patches
// of 28x28, i.e. 4 to 16 image tokens.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/tokenizer/byte_level.hpp"
#include "vlm/core/error.hpp"
#include "vlm/io/atomic_file.hpp"  // defines: atomic_write
#include "vlm/io/image.hpp"        // defines: io::image
#include "vlm/io/png_write.hpp"    // defines: io::write_png

namespace vlm::data {

// Characters the built-in font draws (UTF-8). Responses of make_ocr_dataset use only these.
inline constexpr std::string_view ocr_charset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ¥$.:-/,% ";
// The seed's OCR prompt ("please recognise the text in the picture").
inline constexpr std::string_view ocr_query = "请识别图片中的文字";

// Every character the rows of make_ocr_dataset use (responses and query): the charset to give
// data::write_char_tokenizer so each is one token.
inline std::string ocr_tokenizer_charset() { return std::string(ocr_charset) + std::string(ocr_query); }

// ---------------------------------------------------------------------------------------
// Font: 5 dots wide, 7 high. Each glyph is 7 rows of 5 cells, '#' ink and '.' paper, rows
// separated by '|'. Worked example, '7': "#####|....#|...#.|..#..|.#...|.#...|.#..." is
//   #####
//   ....#
//   ...#.
//   ..#..
//   .#...
//   .#...
//   .#...
inline constexpr int glyph_width = 5;
inline constexpr int glyph_height = 7;

namespace detail {

struct glyph_source {
  char32_t cp;
  std::string_view rows;
};

inline constexpr std::array<glyph_source, 45> font_source{{
    {U'0', ".###.|#...#|#..##|#.#.#|##..#|#...#|.###."},
    {U'1', "..#..|.##..|..#..|..#..|..#..|..#..|.###."},
    {U'2', ".###.|#...#|....#|...#.|..#..|.#...|#####"},
    {U'3', "#####|...#.|..#..|...#.|....#|#...#|.###."},
    {U'4', "...#.|..##.|.#.#.|#..#.|#####|...#.|...#."},
    {U'5', "#####|#....|####.|....#|....#|#...#|.###."},
    {U'6', "..##.|.#...|#....|####.|#...#|#...#|.###."},
    {U'7', "#####|....#|...#.|..#..|.#...|.#...|.#..."},
    {U'8', ".###.|#...#|#...#|.###.|#...#|#...#|.###."},
    {U'9', ".###.|#...#|#...#|.####|....#|...#.|.##.."},
    {U'A', ".###.|#...#|#...#|#####|#...#|#...#|#...#"},
    {U'B', "####.|#...#|#...#|####.|#...#|#...#|####."},
    {U'C', ".###.|#...#|#....|#....|#....|#...#|.###."},
    {U'D', "###..|#..#.|#...#|#...#|#...#|#..#.|###.."},
    {U'E', "#####|#....|#....|####.|#....|#....|#####"},
    {U'F', "#####|#....|#....|####.|#....|#....|#...."},
    {U'G', ".###.|#...#|#....|#.###|#...#|#...#|.####"},
    {U'H', "#...#|#...#|#...#|#####|#...#|#...#|#...#"},
    {U'I', ".###.|..#..|..#..|..#..|..#..|..#..|.###."},
    {U'J', "..###|...#.|...#.|...#.|...#.|#..#.|.##.."},
    {U'K', "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#"},
    {U'L', "#....|#....|#....|#....|#....|#....|#####"},
    {U'M', "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#"},
    {U'N', "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#"},
    {U'O', ".###.|#...#|#...#|#...#|#...#|#...#|.###."},
    {U'P', "####.|#...#|#...#|####.|#....|#....|#...."},
    {U'Q', ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#"},
    {U'R', "####.|#...#|#...#|####.|#.#..|#..#.|#...#"},
    {U'S', ".####|#....|#....|.###.|....#|....#|####."},
    {U'T', "#####|..#..|..#..|..#..|..#..|..#..|..#.."},
    {U'U', "#...#|#...#|#...#|#...#|#...#|#...#|.###."},
    {U'V', "#...#|#...#|#...#|#...#|#...#|.#.#.|..#.."},
    {U'W', "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#."},
    {U'X', "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#"},
    {U'Y', "#...#|#...#|.#.#.|..#..|..#..|..#..|..#.."},
    {U'Z', "#####|....#|...#.|..#..|.#...|#....|#####"},
    {U'¥', "#...#|.#.#.|..#..|#####|..#..|#####|..#.."},
    {U'$', "..#..|.####|#.#..|.###.|..#.#|####.|..#.."},
    {U'.', ".....|.....|.....|.....|.....|.##..|.##.."},
    {U':', ".....|.##..|.##..|.....|.##..|.##..|....."},
    {U'-', ".....|.....|.....|#####|.....|.....|....."},
    {U'/', "....#|....#|...#.|..#..|.#...|#....|#...."},
    {U',', ".....|.....|.....|.....|.##..|..#..|.#..."},
    {U'%', "##..#|##..#|...#.|..#..|.#...|#..##|#..##"},
    {U' ', ".....|.....|.....|.....|.....|.....|....."},
}};

// A glyph as 7 row masks; bit 4 is the leftmost dot.
struct glyph {
  char32_t cp = 0;
  std::array<std::uint8_t, glyph_height> rows{};
};

inline constexpr glyph parse_glyph(const glyph_source& g) {
  glyph out{g.cp, {}};
  int row = 0, col = 0;
  for (char c : g.rows) {
    if (c == '|') {
      ++row;
      col = 0;
      continue;
    }
    if (c == '#') out.rows[static_cast<std::size_t>(row)] |= static_cast<std::uint8_t>(1u << (glyph_width - 1 - col));
    ++col;
  }
  return out;
}

inline constexpr std::array<glyph, font_source.size()> make_font() {
  std::array<glyph, font_source.size()> out{};
  for (std::size_t i = 0; i < font_source.size(); ++i) out[i] = parse_glyph(font_source[i]);
  return out;
}

inline constexpr std::array<glyph, font_source.size()> font = make_font();

// A font row must be 5 cells, 7 rows: checked at compile time.
inline constexpr bool font_well_formed() {
  for (const auto& g : font_source) {
    int rows = 1, col = 0;
    for (char c : g.rows) {
      if (c == '|') {
        if (col != glyph_width) return false;
        ++rows;
        col = 0;
      } else if (c == '#' || c == '.') {
        ++col;
      } else {
        return false;
      }
    }
    if (rows != glyph_height || col != glyph_width) return false;
  }
  return true;
}
static_assert(font_well_formed(), "every glyph in font_source must be 7 rows of 5 '#'/'.' cells");

// splitmix64: tiny, fast and the same on every platform.
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0); multiply-shift, bias < 2^-32.
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  int between(int lo, int hi) { return lo + static_cast<int>(below(static_cast<std::uint32_t>(hi - lo + 1))); }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  bool chance(float p) { return uniform() < p; }
};

// Mixes several values into one seed (sample i of a split gets its own stream).
inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  rng r(a ^ (b * 0xd1342543de82ef95ull + 0x632be59bd9b4e019ull));
  r.next();
  return r.next();
}

// UTF-8 -> code points. throws: format_error on ill-formed input.
inline std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<std::size_t>(len) > s.size())
      fail<format_error>("[synthetic_ocr] text is not valid UTF-8 at byte ", i);
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((c >> 6) != 0x2) fail<format_error>("[synthetic_ocr] text is not valid UTF-8 at byte ", i + static_cast<std::size_t>(k));
      cp = (cp << 6) | (c & 0x3F);
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

// Code point -> UTF-8: the tokenizer's helper.
using tokenizer::append_utf8;

}  // namespace detail

// The glyph drawn for `cp`, or nullptr when the font has none.
inline const detail::glyph* find_glyph(char32_t cp) {
  for (const auto& g : detail::font)
    if (g.cp == cp) return &g;
  return nullptr;
}

// Number of code points of a UTF-8 string ("¥476.0" has 6).
inline std::size_t text_length(std::string_view text) { return detail::utf8_to_u32(text).size(); }

// ---------------------------------------------------------------------------------------
// Rendering

struct render_options {
  int height = 0;             // image height in px; 0: 28 or 56 at random
  int min_width = 112;        // widths are multiples of size_multiple in [min_width, max_width]
  int max_width = 224;
  int size_multiple = 28;     // the Qwen2.5-VL patch-merge unit (14 x 2)
  int margin = 2;             // least paper around the text, px
  float noise_probability = 0.5f;  // chance of Gaussian pixel noise; noisy PNGs are ~30x larger
  float noise_sigma = 8.f;    // its std, drawn uniformly in [0, noise_sigma]
  float blur_probability = 0.3f;  // chance of a [1 2 1]x[1 2 1]/16 blur after drawing
  bool random_colours = true; // false: black ink on white paper
};

// Draws `text` (characters of ocr_charset) as one line. The dot scale is the largest-but-random
// one that fits: 2-3 px per dot in a 28 px high image, 3-6 in a 56 px one, smaller when the
// line would be wider than max_width. Same (text, seed, options) -> same bytes.
//   throws: format_error when `text` is not UTF-8 or holds a character the font lacks, or
//           does not fit max_width x height at 1 px per dot.
inline io::image render_text(std::string_view text, std::uint64_t seed, const render_options& opt = {}) {
  const std::u32string cps = detail::utf8_to_u32(text);
  std::vector<const detail::glyph*> glyphs;
  glyphs.reserve(cps.size());
  for (char32_t cp : cps) {
    const detail::glyph* g = find_glyph(cp);
    if (!g) {
      std::string ch;
      detail::append_utf8(ch, cp);
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
      fail<format_error>("[synthetic_ocr] character '", ch, "' (", code, ") in '", std::string(text),
                         "' has no glyph. Hint: the font draws \"", std::string(ocr_charset), "\"");
    }
    glyphs.push_back(g);
  }
  VLM_CHECK_AS(format_error, !glyphs.empty(), "[synthetic_ocr] cannot render an empty text");
  VLM_CHECK_AS(config_error, opt.size_multiple > 0 && opt.min_width > 0 && opt.max_width >= opt.min_width,
               "[synthetic_ocr] bad render_options: size_multiple ", opt.size_multiple, ", width range [",
               opt.min_width, ", ", opt.max_width, "]");

  detail::rng r(seed);
  const int h = opt.height > 0 ? opt.height : (r.chance(0.5f) ? 28 : 56);
  const int n = static_cast<int>(glyphs.size());
  // Line size at dot scale s: n glyphs of 5 dots with 1 dot between them, 7 dots high.
  auto line_w = [&](int s) { return (n * (glyph_width + 1) - 1) * s; };
  const int fit_h = (h - 2 * opt.margin) / glyph_height;
  int fit_w = 0;
  while (line_w(fit_w + 1) + 2 * opt.margin <= opt.max_width) ++fit_w;
  const int s_max = std::min(fit_h, fit_w);
  VLM_CHECK_AS(format_error, s_max >= 1, "[synthetic_ocr] text '", std::string(text), "' (", n,
               " characters) does not fit ", opt.max_width, "x", h, " px. Hint: at most ",
               (opt.max_width - 2 * opt.margin + 1) / (glyph_width + 1), " characters fit that width");
  const int s_min = std::max(1, std::min(s_max, (s_max + 1) / 2 + (h >= 56 ? 1 : 0)));
  const int s = r.between(s_min, s_max);
  const int tw = line_w(s), th = glyph_height * s;
  int w = (tw + 2 * opt.margin + opt.size_multiple - 1) / opt.size_multiple * opt.size_multiple;
  w = std::clamp(w, opt.min_width, opt.max_width);
  const int x0 = r.between(opt.margin, std::max(opt.margin, w - opt.margin - tw));
  const int y0 = r.between(opt.margin, std::max(opt.margin, h - opt.margin - th));

  // Colours: light paper, dark ink, at least ~120 levels apart in every channel.
  std::array<int, 3> paper{255, 255, 255}, ink{0, 0, 0};
  if (opt.random_colours) {
    const int base_p = r.between(200, 255), base_i = r.between(0, 80);
    for (int c = 0; c < 3; ++c) {
      paper[static_cast<std::size_t>(c)] = std::clamp(base_p + r.between(-12, 12), 190, 255);
      ink[static_cast<std::size_t>(c)] = std::clamp(base_i + r.between(-20, 20), 0, 90);
    }
  }

  // Coverage mask: 1 where ink.
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0);
  for (int k = 0; k < n; ++k) {
    const int gx = x0 + k * (glyph_width + 1) * s;
    for (int row = 0; row < glyph_height; ++row) {
      const std::uint8_t bits = glyphs[static_cast<std::size_t>(k)]->rows[static_cast<std::size_t>(row)];
      if (!bits) continue;
      for (int col = 0; col < glyph_width; ++col) {
        if (!(bits & (1u << (glyph_width - 1 - col)))) continue;
        for (int dy = 0; dy < s; ++dy) {
          std::uint8_t* line = mask.data() + static_cast<std::size_t>(y0 + row * s + dy) * static_cast<std::size_t>(w);
          std::fill_n(line + gx + col * s, s, std::uint8_t{1});
        }
      }
    }
  }

  // Blend in f32, optional blur, noise, then quantise.
  std::vector<float> px(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  for (std::size_t i = 0; i < mask.size(); ++i)
    for (std::size_t c = 0; c < 3; ++c) px[i * 3 + c] = static_cast<float>(mask[i] ? ink[c] : paper[c]);
  if (r.chance(opt.blur_probability)) {
    // Separable [1 2 1]/4 in x then y; edges clamp.
    std::vector<float> tmp(px.size());
    auto at = [&](const std::vector<float>& v, int y, int x, int c) {
      x = std::clamp(x, 0, w - 1);
      y = std::clamp(y, 0, h - 1);
      return v[(static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * 3 +
               static_cast<std::size_t>(c)];
    };
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          tmp[(static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * 3 +
              static_cast<std::size_t>(c)] = 0.25f * at(px, y, x - 1, c) + 0.5f * at(px, y, x, c) + 0.25f * at(px, y, x + 1, c);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          px[(static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * 3 +
             static_cast<std::size_t>(c)] = 0.25f * at(tmp, y - 1, x, c) + 0.5f * at(tmp, y, x, c) + 0.25f * at(tmp, y + 1, x, c);
  }
  const bool noisy = r.chance(opt.noise_probability);
  const float sigma = noisy ? opt.noise_sigma * r.uniform() : 0.f;
  io::image img{w, h, std::vector<std::uint8_t>(px.size())};
  for (std::size_t i = 0; i < px.size(); ++i) {
    float v = px[i];
    if (sigma > 0.f) {
      // Irwin-Hall: the sum of four uniform 16-bit draws, centred and scaled to unit variance
      // (variance of one U(0,1) is 1/12), is close enough to a Gaussian for noise and is
      // cheaper than Box-Muller.
      const std::uint64_t bits = r.next();
      const float sum = static_cast<float>((bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48));
      v += sigma * (sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
    }
    img.rgb[i] = static_cast<std::uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f));
  }
  return img;
}

// ---------------------------------------------------------------------------------------
// Random strings

// One receipt-like string of 3 to 12 characters of ocr_charset, e.g. "¥476.0", "$12.50",
// "2024-03-15", "2023/11/02", "12:45", "AB-1234", "12.5%", "TOTAL", "TAX: 8%", "NO. 1042",
// or random charset characters. No leading, trailing or double spaces.
inline std::string random_ocr_text(std::uint64_t seed) {
  detail::rng r(seed);
  auto digits = [&](int n, bool lead_nonzero) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + (i == 0 && lead_nonzero && n > 1 ? r.between(1, 9) : r.between(0, 9)));
    return s;
  };
  auto two = [&](int lo, int hi) {
    const int v = r.between(lo, hi);
    return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
  };
  auto letters = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('A' + r.below(26));
    return s;
  };
  static constexpr std::array<std::string_view, 24> words{
      "TOTAL", "PAID", "CASH", "DATE", "TAX", "QTY", "PRICE", "AMOUNT", "CHANGE", "INVOICE", "RECEIPT", "ITEM",
      "NO", "SUM", "DUE", "FEE", "NET", "VAT", "BANK", "CARD", "SHOP", "ROOM", "TEL", "CODE"};
  auto word = [&] { return std::string(words[r.below(static_cast<std::uint32_t>(words.size()))]); };
  auto amount = [&] {
    std::string s = r.chance(0.7f) ? "¥" : "$";
    const int int_digits = r.between(1, 5);
    std::string whole = digits(int_digits, true);
    if (int_digits >= 4 && r.chance(0.5f)) whole.insert(whole.size() - 3, ",");
    s += whole;
    if (r.chance(0.8f)) s += "." + digits(r.between(1, 2), false);
    return s;
  };
  std::string out;
  switch (r.below(9)) {
    case 0: case 1: out = amount(); break;
    case 2: {
      const char sep = r.chance(0.6f) ? '-' : '/';
      out = std::to_string(r.between(1990, 2030)) + sep + two(1, 12) + sep + two(1, 28);
      break;
    }
    case 3: out = two(0, 23) + ":" + two(0, 59) + (r.chance(0.3f) ? ":" + two(0, 59) : ""); break;
    case 4: out = letters(r.between(1, 3)) + "-" + digits(r.between(2, 6), false); break;
    case 5: out = digits(r.between(1, 2), true) + (r.chance(0.5f) ? "." + digits(1, false) : "") + "%"; break;
    case 6: out = word(); break;
    case 7: {
      const std::uint32_t k = r.below(3);
      out = word() + (k == 0 ? ": " + amount() : k == 1 ? " " + digits(r.between(1, 4), true) : ": " + word());
      break;
    }
    default: {  // random characters, for coverage of every glyph
      const std::u32string cs = detail::utf8_to_u32(ocr_charset);
      const int n = r.between(3, 12);
      std::u32string t;
      while (static_cast<int>(t.size()) < n) {
        const char32_t c = cs[r.below(static_cast<std::uint32_t>(cs.size()))];
        if (c == U' ' && (t.empty() || t.back() == U' ' || static_cast<int>(t.size()) == n - 1)) continue;
        t.push_back(c);
      }
      for (char32_t c : t) detail::append_utf8(out, c);
    }
  }
  // Keep to 3..12 characters: too long cuts at a character boundary (then trims spaces),
  // too short pads with digits.
  std::u32string cps = detail::utf8_to_u32(out);
  if (cps.size() > 12) {
    cps.resize(12);
    while (!cps.empty() && cps.back() == U' ') cps.pop_back();
  }
  while (cps.size() < 3) cps.push_back(static_cast<char32_t>(U'0' + r.below(10)));
  out.clear();
  for (char32_t c : cps) detail::append_utf8(out, c);
  return out;
}

// ---------------------------------------------------------------------------------------
// Data set

struct dataset_options {
  render_options render;
  std::string query{ocr_query};     // the "query" of every row
  std::string images_subdir = "images";
  int threads = 0;                  // 0: 2 x hardware threads (PNG encoding and fsync overlap)
};

struct dataset_summary {
  std::filesystem::path train_jsonl, val_jsonl;
  int n_train = 0, n_val = 0;
};

// Writes dir/images/{train,val}_NNNNN.png and dir/train.jsonl, dir/val.jsonl with rows
//   {"query": "请识别图片中的文字", "response": "¥476.0", "image_path": "images/train_00001.png"}
// (image_path relative to dir; numbering from 1). Sample i of a split depends only on
// (seed, split, i), not on the thread count. Files are written atomically; existing files of
// the same names are replaced; the jsonl files are written after all their images.
//   requires: 0 <= n_train, n_val <= 99999.
//   throws:   config_error for bad counts; io_error when a file cannot be written.
inline dataset_summary make_ocr_dataset(const std::filesystem::path& dir, int n_train, int n_val, std::uint64_t seed,
                                        const dataset_options& opt = {}) {
  namespace fs = std::filesystem;
  VLM_CHECK_AS(config_error, n_train >= 0 && n_val >= 0 && n_train <= 99999 && n_val <= 99999,
               "[synthetic_ocr] n_train and n_val must be in [0, 99999], got ", n_train, " and ", n_val);
  std::error_code ec;
  fs::create_directories(dir / opt.images_subdir, ec);
  if (ec)
    fail<io_error>("[synthetic_ocr] cannot create '", (dir / opt.images_subdir).string(), "': ", ec.message());
  const int threads = opt.threads > 0 ? opt.threads
                                      : static_cast<int>(std::clamp(2u * std::thread::hardware_concurrency(), 2u, 16u));
  auto write_split = [&](const std::string& split, int count, std::uint64_t split_id) {
    std::vector<std::string> rows(static_cast<std::size_t>(count));
    std::atomic<int> next{0};
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto work = [&] {
      for (int i; (i = next.fetch_add(1)) < count;) {
        try {
          const std::uint64_t s = detail::mix_seed(detail::mix_seed(seed, split_id), static_cast<std::uint64_t>(i + 1));
          const std::string text = random_ocr_text(s);
          const io::image img = render_text(text, detail::mix_seed(s, 1), opt.render);
          char name[64];
          std::snprintf(name, sizeof name, "%s_%05d.png", split.c_str(), i + 1);
          const std::string rel = (fs::path(opt.images_subdir) / name).generic_string();
          io::write_png(dir / rel, img);
          const nlohmann::ordered_json row = {{"query", opt.query}, {"response", text}, {"image_path", rel}};
          rows[static_cast<std::size_t>(i)] = row.dump();
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!first_error) first_error = std::current_exception();
          next.store(count);
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::min(threads, count); ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (first_error) std::rethrow_exception(first_error);
    const fs::path path = dir / (split + ".jsonl");
    io::atomic_write(path, [&](std::ostream& os) {
      for (const auto& row : rows) os << row << '\n';
    });
    return path;
  };
  dataset_summary out;
  out.train_jsonl = write_split("train", n_train, 1);
  out.val_jsonl = write_split("val", n_val, 2);
  out.n_train = n_train;
  out.n_val = n_val;
  return out;
}

}  // namespace vlm::data
