// Text as Python 3 sees it: UTF-8 bytes -> code points (len(), indexing and == in the seed's
// Python code all work on code points), and the few str predicates the seed's code relies on:
// str.isspace (also what `\s` matches in `re`), str.isdecimal (what `\d` matches, and what
// float() accepts as digits) and str.strip(). Tables are Python 3.11's (Unicode 14.0).
//
// Invalid UTF-8 decodes like bytes.decode('utf-8', errors='replace'): one U+FFFD per "maximal
// subpart" (Unicode ch. 3): a byte that can never start or continue a character gives one
// U+FFFD each ("FF FE" -> 2), a truncated but otherwise valid prefix gives one ("E4 B8" -> 1,
// "E4 B8 41" -> U+FFFD 'A'); surrogates (ED A0 80) and overlongs (C0 AF) give one per byte.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::metrics {

inline constexpr char32_t replacement_char = 0xFFFD;

// UTF-8 -> code points (lossy as above). Never throws.
inline std::u32string utf8_to_code_points(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const auto c0 = static_cast<unsigned char>(s[i]);
    if (c0 < 0x80) { out.push_back(c0); ++i; continue; }
    int need;
    char32_t cp;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c0 >= 0xC2 && c0 <= 0xDF) { need = 1; cp = c0 & 0x1F; }
    else if (c0 >= 0xE0 && c0 <= 0xEF) {
      need = 2; cp = c0 & 0x0F;
      if (c0 == 0xE0) lo = 0xA0;       // no overlong 3-byte forms
      else if (c0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
      need = 3; cp = c0 & 0x07;
      if (c0 == 0xF0) lo = 0x90;       // no overlong 4-byte forms
      else if (c0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      out.push_back(replacement_char);  // 80..C1, F5..FF never start a character
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k <= static_cast<std::size_t>(need); ++k) {
      if (i + k >= n) break;
      const auto c = static_cast<unsigned char>(s[i + k]);
      const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
      if (!ok) break;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (k == static_cast<std::size_t>(need) + 1) {
      out.push_back(cp);
      i += k;
    } else {
      out.push_back(replacement_char);  // the maximal subpart [i, i + k) is one U+FFFD
      i += k;
    }
  }
  return out;
}

// Code points -> UTF-8. Surrogates and values above U+10FFFF are written as U+FFFD.
inline std::string code_points_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = replacement_char;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Python's str.isspace(), which is also the set `\s` matches in a str pattern.
inline bool py_isspace(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// The value 0..9 of a decimal digit as Python's str.isdecimal() / re `\d` / float() see it
// (general category Nd: ASCII, fullwidth ０-９, Arabic-Indic, Devanagari, math bold 𝟎 ...), or -1.
// Every Nd block is 10 consecutive code points; the table holds the code point of each zero.
inline int py_decimal_value(char32_t c) {
  static constexpr std::array<char32_t, 66> zeros = {
      0x30,    0x660,   0x6f0,   0x7c0,   0x966,   0x9e6,   0xa66,   0xae6,   0xb66,   0xbe6,   0xc66,
      0xce6,   0xd66,   0xde6,   0xe50,   0xed0,   0xf20,   0x1040,  0x1090,  0x17e0,  0x1810,  0x1946,
      0x19d0,  0x1a80,  0x1a90,  0x1b50,  0x1bb0,  0x1c40,  0x1c50,  0xa620,  0xa8d0,  0xa900,  0xa9d0,
      0xa9f0,  0xaa50,  0xabf0,  0xff10,  0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0,
      0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60,
      0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0};
  if (c < 0x80) return (c >= '0' && c <= '9') ? static_cast<int>(c - '0') : -1;
  // zeros is sorted; find the last zero <= c
  std::size_t lo = 0, hi = zeros.size();
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    (zeros[mid] <= c ? lo : hi) = mid;
  }
  return (c >= zeros[lo] && c < zeros[lo] + 10) ? static_cast<int>(c - zeros[lo]) : -1;
}

// Python's str.strip() with no argument.
inline std::u32string_view py_strip(std::u32string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && py_isspace(s[b])) ++b;
  while (e > b && py_isspace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace vlm::metrics
