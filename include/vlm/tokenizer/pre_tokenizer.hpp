// The pre-tokenizer: splits normalised text into "words" with the tokenizer.json regex
// (HF `Split` with behavior "Isolated": every match is a word, and so is any unmatched gap).
// HF `tokenizers` runs the pattern with Oniguruma; we run it with PCRE2 (UTF + UCP, JIT).
// The one difference between the two engines for these patterns is `\s`: PCRE2's also
// matches U+180E MONGOLIAN VOWEL SEPARATOR, Oniguruma's is exactly Unicode White_Space, so
// `\s`/`\S` are rewritten to that explicit set before compiling.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include <pcre2.h>  // PCRE2_CODE_UNIT_WIDTH=8 comes from the vlm::pcre2 CMake target

#include "vlm/core/error.hpp"

namespace vlm::tokenizer {

namespace detail {

// Unicode White_Space (Oniguruma's \s), as a character-class body.
inline constexpr std::string_view white_space_class =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// Rewrites `\s` and `\S` to the explicit White_Space set (see the file comment).
// Worked example: "[^\s\p{L}]|\s+(?!\S)" -> "[^<ws>\p{L}]|[<ws>]+(?![^<ws>])".
// throws: config_error for `\S` inside a character class (no pattern we know of uses it).
inline std::string rewrite_white_space(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 256);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        if (in_class) out.append(white_space_class);
        else out.append("[").append(white_space_class).append("]");
      } else if (e == 'S') {
        if (in_class)
          fail<config_error>("[tokenizer] pre-tokenizer regex uses \\S inside a character class, "
                             "which is not supported: ", pattern);
        out.append("[^").append(white_space_class).append("]");
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

struct pcre2_code_deleter {
  void operator()(pcre2_code* p) const { pcre2_code_free(p); }
};
struct pcre2_match_data_deleter {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};
struct pcre2_match_context_deleter {
  void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
};
struct pcre2_jit_stack_deleter {
  void operator()(pcre2_jit_stack* p) const { pcre2_jit_stack_free(p); }
};

}  // namespace detail

class regex_splitter {
 public:
  regex_splitter() = default;  // matches nothing: split() gives the whole text as one word
  // throws: config_error naming the offset if `pattern` does not compile.
  explicit regex_splitter(std::string_view pattern) : pattern_(pattern) {
    const std::string rewritten = detail::rewrite_white_space(pattern);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr));
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail<config_error>("[tokenizer] pre-tokenizer regex does not compile: ",
                         reinterpret_cast<const char*>(msg), " at offset ", err_offset,
                         " of (rewritten) pattern ", rewritten);
    }
    // JIT is optional: it is several times faster, but the interpreter gives the same matches.
    jit_ = pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE) == 0;
  }

  const std::string& pattern() const { return pattern_; }

  // Calls on_piece(std::string_view) for each word of `text`, in order; the words
  // concatenate back to `text`. requires: `text` is valid UTF-8 (it is not checked again).
  template <class OnPiece>
  void split(std::string_view text, OnPiece&& on_piece) const {
    if (!code_) {
      if (!text.empty()) on_piece(text);
      return;
    }
    std::unique_ptr<pcre2_match_data, detail::pcre2_match_data_deleter> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    std::unique_ptr<pcre2_match_context, detail::pcre2_match_context_deleter> ctx;
    std::unique_ptr<pcre2_jit_stack, detail::pcre2_jit_stack_deleter> stack;
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t pos = 0, last = 0;
    while (pos < text.size()) {
      int rc = match(subject, text.size(), pos, md.get(), ctx.get());
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !stack) {
        // Very long runs can outgrow the default 32 KiB JIT stack; retry once with 64 MiB.
        stack.reset(pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr));
        ctx.reset(pcre2_match_context_create(nullptr));
        pcre2_jit_stack_assign(ctx.get(), nullptr, stack.get());
        rc = match(subject, text.size(), pos, md.get(), ctx.get());
      }
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fail<error>("[tokenizer] pre-tokenizer regex failed at byte ", pos, " of ", text.size(),
                    ": ", reinterpret_cast<const char*>(msg));
      }
      const size_t start = ov[0], end = ov[1];
      if (start > last) on_piece(text.substr(last, start - last));
      if (end == start) {  // empty match: not a word; step over one character
        pos = start + 1;
        while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
        continue;
      }
      on_piece(text.substr(start, end - start));
      last = pos = end;
    }
    if (last < text.size()) on_piece(text.substr(last));
  }

 private:
  int match(PCRE2_SPTR subject, size_t n, size_t pos, pcre2_match_data* md,
            pcre2_match_context* ctx) const {
    return jit_ ? pcre2_jit_match(code_.get(), subject, n, pos, 0, md, ctx)
                : pcre2_match(code_.get(), subject, n, pos, PCRE2_NO_UTF_CHECK, md, ctx);
  }

  std::string pattern_;  // as given in tokenizer.json, for messages
  std::unique_ptr<pcre2_code, detail::pcre2_code_deleter> code_;
  bool jit_ = false;
};

}  // namespace vlm::tokenizer
