// UTF-8 helpers for the tokenizer: validation, lossy decoding that matches Python's
// bytes.decode('utf-8', errors='replace') and Rust's String::from_utf8_lossy (one U+FFFD per
// "maximal subpart" of an ill-formed sequence, Unicode ch. 3 "U+FFFD substitution"), the
// length of a trailing incomplete character (for streaming), and NFC via utf8proc.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <utf8proc.h>  // utf8proc_map (NFC), utf8proc_decompose_char, utf8proc_get_property

#include "vlm/core/error.hpp"

namespace vlm::tokenizer {

namespace detail {

enum class utf8_status : uint8_t { valid, invalid, incomplete };

struct utf8_step {
  utf8_status status;
  uint8_t length;  // bytes consumed: the character, or the maximal ill-formed subpart
};

// Classifies the sequence that starts at s[i]. For `invalid` and `incomplete`, `length` is the
// maximal subpart: the longest prefix that could still begin a well-formed character.
// Worked example: "E4 B8 41" -> invalid, length 2 (then 'A' starts afresh); "F0 9F" at the
// end -> incomplete, length 2; "C0 80" -> invalid, length 1 (C0 never starts a character).
inline utf8_step utf8_next(std::string_view s, size_t i) {
  const auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 < 0x80) return {utf8_status::valid, 1};
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c0 >= 0xC2 && c0 <= 0xDF) need = 1;
  else if (c0 >= 0xE0 && c0 <= 0xEF) {
    need = 2;
    if (c0 == 0xE0) lo = 0xA0;       // no overlong 3-byte forms
    else if (c0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    need = 3;
    if (c0 == 0xF0) lo = 0x90;       // no overlong 4-byte forms
    else if (c0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {utf8_status::invalid, 1};
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return {utf8_status::incomplete, static_cast<uint8_t>(k)};
    const auto c = static_cast<unsigned char>(s[i + k]);
    const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return {utf8_status::invalid, static_cast<uint8_t>(k)};
  }
  return {utf8_status::valid, static_cast<uint8_t>(need + 1)};
}

}  // namespace detail

// Byte offset of the first ill-formed or truncated sequence, or npos if `s` is valid UTF-8.
inline size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    const auto st = detail::utf8_next(s, i);
    if (st.status != detail::utf8_status::valid) return i;
    i += st.length;
  }
  return std::string_view::npos;
}

// Appends `bytes` decoded lossily to `out`: each maximal ill-formed subpart, including a
// truncated character at the end, becomes one U+FFFD (as Python's errors='replace').
inline void append_utf8_lossy(std::string& out, std::string_view bytes) {
  constexpr std::string_view replacement = "\xEF\xBF\xBD";
  size_t i = 0, run = 0;  // [run, i) is valid and not yet copied
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) { ++i; continue; }
    const auto st = detail::utf8_next(bytes, i);
    if (st.status == detail::utf8_status::valid) { i += st.length; continue; }
    out.append(bytes.substr(run, i - run));
    out.append(replacement);
    i += st.length;
    run = i;
  }
  out.append(bytes.substr(run));
}

inline std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_utf8_lossy(out, bytes);
  return out;
}

// Length of the trailing bytes that begin a character but do not finish it yet and could
// still become valid ("E4 B8" -> 2). Bytes that can never become valid count as 0: they are
// already final (they decode to U+FFFD whatever follows).
inline size_t incomplete_tail_length(std::string_view s) {
  // A character has at most 4 bytes, so only a lead byte among the last 3 can be unfinished.
  const size_t first = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = s.size(); i-- > first;) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80 && c <= 0xBF) continue;  // continuation byte: keep looking for the lead
    const auto st = detail::utf8_next(s, i);
    return st.status == detail::utf8_status::incomplete && i + st.length == s.size()
               ? s.size() - i : 0;
  }
  return 0;
}

// throws: format_error naming the byte offset if `text` is not valid UTF-8.
inline void check_utf8(std::string_view text) {
  const size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos)
    fail<format_error>("[tokenizer] input text is not valid UTF-8: ill-formed sequence at byte ",
                       bad, " of ", text.size(), ". Hint: encode() takes UTF-8 text.");
}

namespace detail {

// Code points that NFC leaves alone whatever surrounds them: combining class 0, no canonical
// decomposition, and never the second part of a composition. Text between two of them can be
// normalised on its own (a class-0 character blocks composition and reordering across it),
// so nfc() hands utf8proc only the short stretches around the others ("e\u0301" in "café").
// The "second parts" are found, conservatively, as every non-first code point of every
// canonical decomposition; all canonical decompositions lie below U+30000.
class nfc_inert_table {
 public:
  static constexpr char32_t limit = 0x30000;

  nfc_inert_table() : inert_(limit, true) {
    utf8proc_int32_t buf[32];
    for (char32_t cp = 0x80; cp < limit; ++cp) {
      if (cp >= 0xD800 && cp < 0xE000) continue;
      if (utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class != 0)
        inert_[cp] = false;
      utf8proc_int32_t last_boundclass = 0;
      const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 32,
                                             UTF8PROC_DECOMPOSE, &last_boundclass);
      if (n == 1 && buf[0] == static_cast<utf8proc_int32_t>(cp)) continue;
      inert_[cp] = false;
      for (utf8proc_ssize_t k = 1; k < n && k < 32; ++k)
        if (buf[k] >= 0 && static_cast<char32_t>(buf[k]) < limit) inert_[buf[k]] = false;
    }
  }

  bool operator()(char32_t cp) const {
    if (cp < limit) return inert_[cp];
    // Above U+30000 nothing decomposes or composes; only combining marks (e.g. tags) matter.
    return utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class == 0;
  }

  static const nfc_inert_table& get() {
    static const nfc_inert_table table;  // built once (~10 ms), read-only after
    return table;
  }

 private:
  std::vector<bool> inert_;
};

// Decodes the valid UTF-8 character at s[i] (requires: s is valid UTF-8).
inline char32_t decode_valid_utf8(std::string_view s, size_t i, size_t& length) {
  const auto c0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (c0 < 0x80) { length = 1; return c0; }
  if (c0 < 0xE0) { length = 2; return (char32_t{c0 & 0x1Fu} << 6) | cont(1); }
  if (c0 < 0xF0) { length = 3; return (char32_t{c0 & 0x0Fu} << 12) | (cont(1) << 6) | cont(2); }
  length = 4;
  return (char32_t{c0 & 0x07u} << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
}

// Appends NFC(stretch) to `out` via utf8proc (requires: stretch is valid UTF-8).
inline void append_nfc_utf8proc(std::string& out, std::string_view stretch) {
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(stretch.data()),
                   static_cast<utf8proc_ssize_t>(stretch.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail<format_error>("[tokenizer] NFC normalisation failed: ", utf8proc_errmsg(n));
  out.append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
}

}  // namespace detail

// Unicode NFC of `text`, as HF's NFC normalizer. Returns `text` itself when NFC does not
// change it (the usual case), else a view of `storage`, which receives the normalised copy.
// throws: format_error naming the byte offset if `text` is not valid UTF-8.
inline std::string_view nfc(std::string_view text, std::string& storage) {
  size_t i = 0;
  while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
  if (i == text.size()) return text;
  check_utf8(text);
  const auto& inert = detail::nfc_inert_table::get();
  // [copied, last_inert) is final and not yet copied; last_inert = start of the latest inert
  // character, where a stretch that needs utf8proc must begin.
  size_t copied = 0, last_inert = i > 0 ? i - 1 : 0;
  bool changed = false;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) { last_inert = i++; continue; }  // ASCII is inert
    size_t len;
    const char32_t cp = detail::decode_valid_utf8(text, i, len);
    if (inert(cp)) { last_inert = i; i += len; continue; }
    // Normalise from the last inert character up to the next one.
    size_t end = i + len;
    while (end < text.size()) {
      if (static_cast<unsigned char>(text[end]) < 0x80) break;
      const char32_t next = detail::decode_valid_utf8(text, end, len);
      if (inert(next)) break;
      end += len;
    }
    if (!changed) { storage.clear(); changed = true; }
    storage.append(text.substr(copied, last_inert - copied));
    detail::append_nfc_utf8proc(storage, text.substr(last_inert, end - last_inert));
    copied = last_inert = i = end;
  }
  if (!changed) return text;
  storage.append(text.substr(copied));
  return storage;
}

inline std::string nfc(std::string_view text) {
  std::string storage;
  return std::string(nfc(text, storage));
}

}  // namespace vlm::tokenizer
