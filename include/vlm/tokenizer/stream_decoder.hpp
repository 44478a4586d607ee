// stream_decoder: turns ids into text one at a time during generation. A character can be
// split across tokens (an emoji is often 2-3 byte tokens), so bytes that begin a character
// but do not finish it yet are held back and never emitted as half a character or as a
// premature U+FFFD. Everything else is emitted at once. Invariant: the concatenation of all
// put() results and finish() equals tokenizer::decode() of the same ids.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vlm/tokenizer/tokenizer.hpp"
#include "vlm/tokenizer/utf8.hpp"

namespace vlm::tokenizer {

class stream_decoder {
 public:
  // requires: `tok` outlives this decoder.
  explicit stream_decoder(const tokenizer& tok, bool skip_special = false)
      : tok_(&tok), skip_special_(skip_special) {}

  // Text completed by `id`: possibly empty (a character still unfinished), possibly more
  // than this token's share (it finishes an earlier one).
  std::string put(int32_t id) {
    pending_.append(tok_->token_bytes(id, skip_special_));
    return take_complete();
  }

  std::string put(std::span<const int32_t> ids) {
    for (const int32_t id : ids) pending_.append(tok_->token_bytes(id, skip_special_));
    return take_complete();
  }

  // End of the stream: an unfinished character becomes one U+FFFD. The decoder is then empty
  // and can be reused.
  std::string finish() {
    std::string out = utf8_lossy(pending_);
    pending_.clear();
    return out;
  }

  // Bytes held back, waiting for the rest of their character (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

  void reset() { pending_.clear(); }

 private:
  // Why splitting here is safe: the held-back tail starts with a lead byte, which no
  // earlier sequence can claim as a continuation, so decoding the two parts separately
  // gives the same U+FFFDs as decoding them together.
  std::string take_complete() {
    const size_t ready = pending_.size() - incomplete_tail_length(pending_);
    std::string out = utf8_lossy(std::string_view(pending_).substr(0, ready));
    pending_.erase(0, ready);
    return out;
  }

  const tokenizer* tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace vlm::tokenizer
