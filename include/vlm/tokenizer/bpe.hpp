// Byte-level BPE model: turns one pre-tokenised word (raw UTF-8 bytes) into token ids by
// applying merges in rank order, as HF `tokenizers` models::bpe (no dropout, no unk, no
// subword prefix/suffix). Symbols start as the 256 byte tokens; the lowest-rank adjacent pair
// is merged first, the leftmost one on ties (HF's heap order), until no pair is a merge.
// Results are cached per word: natural text repeats words, and a hit skips all merging.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vlm/core/error.hpp"
#include "vlm/tokenizer/byte_level.hpp"

namespace vlm::tokenizer {

namespace detail {

// Open-addressing map (left id, right id) -> (rank, merged id). The merge loop looks up every
// adjacent pair, so this is the hot path; std::unordered_map costs a node hop per probe.
class merge_table {
 public:
  struct entry {
    int32_t rank = -1;
    int32_t id = -1;
  };

  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, slot{});
    mask_ = cap - 1;
    size_ = 0;
  }

  // Later inserts of the same pair overwrite earlier ones (as HF's HashMap collect does).
  void insert(int32_t a, int32_t b, entry e) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    put(key(a, b), e);
  }

  entry find(int32_t a, int32_t b) const {
    if (slots_.empty()) return {};
    const uint64_t k = key(a, b);
    for (uint64_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return slots_[i].value;
      if (slots_[i].key == empty_key) return {};
    }
  }

 private:
  static constexpr uint64_t empty_key = ~uint64_t{0};  // ids are >= 0, so never a real key
  struct slot {
    uint64_t key = empty_key;
    entry value;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t mix(uint64_t k) {  // murmur3 finaliser
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  }
  void put(uint64_t k, entry e) {
    for (uint64_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == k) { slots_[i].value = e; return; }
      if (slots_[i].key == empty_key) { slots_[i] = {k, e}; ++size_; return; }
    }
  }
  void grow() {
    std::vector<slot> old = std::move(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const auto& s : old)
      if (s.key != empty_key) put(s.key, s.value);
  }

  std::vector<slot> slots_;
  uint64_t mask_ = 0;
  size_t size_ = 0;
};

// Append-only map from byte strings to a small value, with the keys stored back to back in
// one buffer: a lookup is one hash, a probe in a flat array and one memcmp, and building it
// for 150k tokens makes no per-key allocations (std::unordered_map<std::string, ...> does).
template <class Value>
class flat_string_map {
 public:
  size_t size() const { return entries_.size(); }

  // Inserts or, for a key already present, overwrites.
  void insert(std::string_view key, Value value) {
    if (2 * (entries_.size() + 1) > slots_.size()) rehash(slots_.empty() ? 64 : 2 * slots_.size());
    const uint64_t h = hash(key);
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const int32_t e = slots_[i];
      if (e < 0) {
        slots_[i] = static_cast<int32_t>(entries_.size());
        entries_.push_back({static_cast<uint32_t>(h), static_cast<uint32_t>(keys_.size()),
                            static_cast<uint32_t>(key.size()), value});
        keys_.append(key);
        return;
      }
      if (matches(entries_[e], h, key)) { entries_[e].value = value; return; }
    }
  }

  const Value* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const uint64_t h = hash(key);
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const int32_t e = slots_[i];
      if (e < 0) return nullptr;
      if (matches(entries_[e], h, key)) return &entries_[e].value;
    }
  }

  void reserve(size_t n, size_t key_bytes) {
    entries_.reserve(n);
    keys_.reserve(key_bytes);
    size_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    if (cap > slots_.size()) rehash(cap);
  }

 private:
  struct entry {
    uint32_t hash, offset, length;
    Value value;
  };
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  bool matches(const entry& e, uint64_t h, std::string_view key) const {
    return e.hash == static_cast<uint32_t>(h) && e.length == key.size() &&
           std::memcmp(keys_.data() + e.offset, key.data(), key.size()) == 0;
  }
  void rehash(size_t cap) {
    slots_.assign(cap, -1);
    mask_ = cap - 1;
    for (size_t e = 0; e < entries_.size(); ++e) {
      const std::string_view key(keys_.data() + entries_[e].offset, entries_[e].length);
      uint64_t i = hash(key) & mask_;
      while (slots_[i] >= 0) i = (i + 1) & mask_;
      slots_[i] = static_cast<int32_t>(e);
    }
  }

  std::vector<entry> entries_;
  std::string keys_;
  std::vector<int32_t> slots_;  // entry index or -1
  uint64_t mask_ = 0;
};

}  // namespace detail

class bpe {
 public:
  bpe() = default;

  // vocab: (byte-level token text such as "Ġhello", id). merges: (left, right) token texts,
  // in rank order. ignore_merges: a word that is itself in the vocab becomes that one token.
  // throws: format_error naming the merge (index and text) whose parts or result are not in
  // the vocab, or the byte whose single-byte token is missing; `origin` names the file.
  bpe(const std::vector<std::pair<std::string_view, int32_t>>& vocab,
      const std::vector<std::pair<std::string_view, std::string_view>>& merges, bool ignore_merges,
      std::string_view origin)
      : ignore_merges_(ignore_merges) {
    size_t key_bytes = 0;
    for (const auto& [token, id] : vocab) key_bytes += token.size();
    vocab_.reserve(vocab.size(), key_bytes);
    for (const auto& [token, id] : vocab) vocab_.insert(token, id);
    for (int b = 0; b < 256; ++b) {
      std::string s;
      append_utf8(s, byte_to_unicode[b]);
      const int32_t id = lookup(s);
      if (id < 0)
        fail<format_error>("[tokenizer] '", origin, "': field '/model/vocab' has no token for byte 0x",
                           "0123456789ABCDEF"[b >> 4], "0123456789ABCDEF"[b & 15], " ('", s,
                           "'). Hint: byte-level BPE needs all 256 byte tokens.");
      byte_id_[b] = id;
    }
    merges_.reserve(merges.size());
    std::string joined;
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      joined.assign(a).append(b);
      const int32_t ia = lookup(a), ib = lookup(b), ij = lookup(joined);
      if (ia < 0 || ib < 0 || ij < 0)
        fail<format_error>("[tokenizer] '", origin, "': field '/model/merges/", r, "' (\"", a, " ",
                           b, "\"): token '", ia < 0 ? a : ib < 0 ? b : std::string_view(joined),
                           "' is not in '/model/vocab'");
      merges_.insert(ia, ib, {static_cast<int32_t>(r), ij});
    }
  }

  // Move-only: the cache holds a mutex.
  bpe(bpe&&) = default;
  bpe& operator=(bpe&&) = default;

  // Id of a byte-level token text, or -1.
  int32_t lookup(std::string_view token) const {
    const int32_t* id = vocab_.find(token);
    return id ? *id : -1;
  }

  // Appends the ids of one word (raw bytes, requires: non-empty) to `out`. Thread-safe.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.size() == 1) {
      out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
      return;
    }
    const bool cacheable = word.size() <= max_cached_word;
    if (cacheable) {
      std::lock_guard lock(cache_->mutex);
      if (const auto* hit = cache_->words.find(word)) {
        const int32_t* ids = cache_->ids.data() + hit->first;
        out.insert(out.end(), ids, ids + hit->second);
        return;
      }
    }
    const size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
      std::lock_guard lock(cache_->mutex);
      if (cache_->words.size() < max_cache_words) {  // full: stop adding (HF does the same)
        cache_->words.insert(word, {static_cast<uint32_t>(cache_->ids.size()),
                                    static_cast<uint32_t>(out.size() - first)});
        cache_->ids.insert(cache_->ids.end(), out.begin() + first, out.end());
      }
    }
  }

  static constexpr size_t max_cached_word = 256;     // bytes
  static constexpr size_t max_cache_words = 200000;  // a few tens of MB at most

 private:
  // The merge loop. Symbols form a linked list over the word's bytes; a min-heap holds
  // candidate merges (rank, left position). An entry whose pair changed since it was pushed
  // is stale and skipped: ranks are unique, so "same rank" means "same pair".
  void merge_word(std::string_view word, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
      const int32_t id = lookup(bytes_to_byte_level(word));
      if (id >= 0) { out.push_back(id); return; }
    }
    struct symbol {
      int32_t id, prev, next;
    };
    struct candidate {
      int32_t rank, pos;
      bool operator>(const candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    // Runs only on a cache miss, so plain locals (no thread_local scratch) cost little.
    const int32_t n = static_cast<int32_t>(word.size());
    std::vector<symbol> sym(n);
    std::vector<candidate> heap;  // min-heap via std::push_heap/pop_heap
    heap.reserve(n);
    for (int32_t i = 0; i < n; ++i)
      sym[i] = {byte_id_[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};

    const auto later = std::greater<>{};
    auto push_pair = [&](int32_t i) {
      const int32_t j = sym[i].next;
      if (j < 0) return;
      const auto m = merges_.find(sym[i].id, sym[j].id);
      if (m.rank < 0) return;
      heap.push_back({m.rank, i});
      std::push_heap(heap.begin(), heap.end(), later);
    };
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const candidate c = heap.back();
      heap.pop_back();
      const int32_t i = c.pos;
      if (sym[i].id < 0) continue;  // merged away into its left neighbour
      const int32_t j = sym[i].next;
      if (j < 0) continue;
      const auto m = merges_.find(sym[i].id, sym[j].id);
      if (m.rank != c.rank) continue;  // stale
      sym[i].id = m.id;
      sym[i].next = sym[j].next;
      if (sym[j].next >= 0) sym[sym[j].next].prev = i;
      sym[j].id = -1;
      if (sym[i].prev >= 0) push_pair(sym[i].prev);
      push_pair(i);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
  }

  struct word_cache {
    std::mutex mutex;
    detail::flat_string_map<std::pair<uint32_t, uint32_t>> words;  // word -> (offset, count) in ids
    std::vector<int32_t> ids;
  };

  detail::flat_string_map<int32_t> vocab_;
  detail::merge_table merges_;
  int32_t byte_id_[256] = {};
  bool ignore_merges_ = false;
  std::unique_ptr<word_cache> cache_ = std::make_unique<word_cache>();
};

}  // namespace vlm::tokenizer
