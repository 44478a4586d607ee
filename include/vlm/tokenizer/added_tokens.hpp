// Added tokens (<|im_start|>, <|image_pad|>, <tool_call>, ...) are found in the raw text
// before normalisation and pre-tokenisation, as whole strings: at each position the
// leftmost match wins, and among matches starting there the longest (HF AddedVocabulary's
// Aho-Corasick with MatchKind::LeftmostLongest). The text between matches goes on to BPE.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::tokenizer {

struct added_token {
  std::string content;
  int32_t id = -1;
  bool special = false;  // skipped by decode(..., skip_special=true)
};

class added_token_matcher {
 public:
  added_token_matcher() = default;
  // requires: no token has empty content.
  explicit added_token_matcher(std::vector<added_token> tokens) : tokens_(std::move(tokens)) {
    // Longest first, so the first hit at a position is the longest one.
    std::stable_sort(tokens_.begin(), tokens_.end(), [](const auto& a, const auto& b) {
      return a.content.size() > b.content.size();
    });
    for (const auto& t : tokens_) first_byte_[static_cast<unsigned char>(t.content[0])] = true;
  }

  const std::vector<added_token>& tokens() const { return tokens_; }

  // Calls on_text(std::string_view) for each non-empty stretch between added tokens and
  // on_token(int32_t id) for each added token, in text order.
  template <class OnText, class OnToken>
  void split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
    size_t last = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
      const added_token* hit = nullptr;
      for (const auto& t : tokens_) {
        if (text.compare(i, t.content.size(), t.content) == 0) { hit = &t; break; }
      }
      if (!hit) continue;
      if (i > last) on_text(text.substr(last, i - last));
      on_token(hit->id);
      last = i + hit->content.size();
      i = last - 1;
    }
    if (last < text.size()) on_text(text.substr(last));
  }

 private:
  std::vector<added_token> tokens_;   // longest content first
  std::array<bool, 256> first_byte_{};  // bytes that can start a token: skip the rest fast
};

}  // namespace vlm::tokenizer
