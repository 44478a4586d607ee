// KV caches for decoding. The attention layers only need
//   append(layer, k [B, S, Hkv, D], v) -> (k_all, v_all) [B, T, Hkv, D]   (T = cached + S)
//   length() -> tokens cached so far (the sequence index of the next token)
// so a paged cache (fixed-size blocks + per-sequence block tables, for continuous batching)
// can implement the same two calls (concept kv_cache_for). Rows of a batch are left-padded to
// one length, so one length serves every row; padding keys are masked by key_valid.
#pragma once
#include <concepts>
#include <cstring>
#include <utility>
#include <vector>

#include "vlm/core/tensor.hpp"

namespace vlm::generate {

template <class C, class T, class B>
concept kv_cache_for = requires(C& c, const tensor<T, B>& k) {
  { c.append(0, k, k) } -> std::same_as<std::pair<tensor<T, B>, tensor<T, B>>>;
  { c.length() } -> std::convertible_to<std::int64_t>;
};

// One contiguous [B, capacity, Hkv, D] buffer per layer for keys and values.
template <class T, class B = cpu>
class contiguous_kv_cache {
 public:
  contiguous_kv_cache(std::int64_t layers, std::int64_t batch, std::int64_t capacity, std::int64_t kv_heads,
                      std::int64_t head_dim)
      : capacity_(capacity), lengths_(static_cast<std::size_t>(layers), 0) {
    for (std::int64_t l = 0; l < layers; ++l) {
      k_.push_back(tensor<T, B>::empty({batch, capacity, kv_heads, head_dim}));
      v_.push_back(tensor<T, B>::empty({batch, capacity, kv_heads, head_dim}));
    }
  }

  std::int64_t length() const { return lengths_.empty() ? 0 : lengths_[0]; }
  std::int64_t capacity() const { return capacity_; }

  // requires: k, v [B, S, Hkv, D] and length + S <= capacity.
  std::pair<tensor<T, B>, tensor<T, B>> append(int layer, const tensor<T, B>& k, const tensor<T, B>& v) {
    auto& len = lengths_.at(static_cast<std::size_t>(layer));
    const std::int64_t S = k.size(1);
    VLM_CHECK_AS(shape_error, len + S <= capacity_, "[kv_cache] ", len + S, " tokens exceed the cache capacity ",
                 capacity_, ". Hint: raise max_new_tokens' budget or shorten the prompt");
    store(k_[static_cast<std::size_t>(layer)], k, len);
    store(v_[static_cast<std::size_t>(layer)], v, len);
    len += S;
    return {k_[static_cast<std::size_t>(layer)].narrow(1, 0, len), v_[static_cast<std::size_t>(layer)].narrow(1, 0, len)};
  }

 private:
  static void store(tensor<T, B>& dst, const tensor<T, B>& src, std::int64_t at) {
    auto part = dst.narrow(1, at, src.size(1));
    for (std::int64_t b = 0; b < src.size(0); ++b) {
      auto d = part.select(0, b);
      copy_into(d, src.select(0, b).contiguous());
    }
  }
  std::int64_t capacity_;
  std::vector<std::int64_t> lengths_;
  std::vector<tensor<T, B>> k_, v_;
};

}  // namespace vlm::generate
