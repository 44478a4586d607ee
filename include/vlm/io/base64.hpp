// Base64 decoding (RFC 4648, standard alphabet, padding optional, whitespace ignored) for
// data: URLs in chat messages. throws: format_error naming the offending character's offset.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm::io {

inline std::vector<std::uint8_t> base64_decode(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') break;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v = value(c);
    if (v < 0) fail<format_error>("[base64] invalid character '", std::string(1, c), "' at offset ", i);
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xffu));
    }
  }
  return out;
}

}  // namespace vlm::io
