// GPT-2 byte-level alphabet: each of the 256 byte values is shown as one printable Unicode
// character, so BPE vocabularies can be stored as text. Matches `bytes_to_unicode` in
// openai/gpt-2 encoder.py and the ByteLevel pre-tokenizer/decoder of HF `tokenizers`.
// Worked example: ' ' (0x20) -> U+0120 'Ġ', '\n' (0x0A) -> U+010A 'Ċ', 'a' -> 'a'.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vlm::tokenizer {

// Appends the UTF-8 encoding of code point `cp` (requires: cp < 0x110000) to `out`.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// byte -> code point of its printable stand-in. Printable Latin-1 bytes keep their own code
// point; the other 68 (controls, space, 0x7F-0xA0, 0xAD) get 256, 257, ... in byte order.
inline constexpr std::array<char32_t, 256> byte_to_unicode_table() {
  std::array<char32_t, 256> t{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return t;
}
inline constexpr std::array<char32_t, 256> byte_to_unicode = byte_to_unicode_table();

// The inverse on code points 0..323 (the whole image of the map); -1 for the rest.
inline constexpr std::array<int16_t, 324> unicode_to_byte_table() {
  std::array<int16_t, 324> t{};
  for (auto& v : t) v = -1;
  for (int b = 0; b < 256; ++b) t[byte_to_unicode[b]] = static_cast<int16_t>(b);
  return t;
}
inline constexpr std::array<int16_t, 324> unicode_to_byte = unicode_to_byte_table();

// Raw bytes -> their byte-level text, e.g. " hi" -> "Ġhi".
inline std::string bytes_to_byte_level(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char b : raw) append_utf8(out, byte_to_unicode[b]);
  return out;
}

// Byte-level text -> raw bytes, the ByteLevel decoder's rule for one token: if every
// character is in the alphabet, its bytes; otherwise (e.g. an added token such as
// "<| a|>" whose space is not 'Ġ') the token's own UTF-8 bytes unchanged.
// requires: `text` is valid UTF-8.
inline std::string byte_level_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c0 = static_cast<unsigned char>(text[i]);
    char32_t cp;
    size_t n;
    if (c0 < 0x80) { cp = c0; n = 1; }
    else if ((c0 & 0xE0) == 0xC0 && i + 1 < text.size()) {
      cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      n = 2;
    } else {
      return std::string(text);  // 3- and 4-byte characters are never in the alphabet
    }
    if (cp >= unicode_to_byte.size() || unicode_to_byte[cp] < 0) return std::string(text);
    out += static_cast<char>(unicode_to_byte[cp]);
    i += n;
  }
  return out;
}

}  // namespace vlm::tokenizer
