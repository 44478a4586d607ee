// shape: up to 8 extents (int64), value semantics; strides are element counts.
// Negative dimension indices count from the back, as in PyTorch.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm {

inline constexpr int max_rank = 8;

class shape {
 public:
  shape() = default;
  shape(std::initializer_list<std::int64_t> d) { assign(d.begin(), d.end()); }
  explicit shape(std::span<const std::int64_t> d) { assign(d.begin(), d.end()); }
  explicit shape(const std::vector<std::int64_t>& d) { assign(d.begin(), d.end()); }

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return d_[static_cast<std::size_t>(wrap(i))]; }
  std::int64_t& operator[](int i) { return d_[static_cast<std::size_t>(wrap(i))]; }
  const std::int64_t* begin() const { return d_.data(); }
  const std::int64_t* end() const { return d_.data() + rank_; }

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= d_[static_cast<std::size_t>(i)];
    return n;
  }
  // Index in [0, rank) for a possibly negative dimension index; throws when out of range.
  int wrap(int i) const {
    int j = i < 0 ? i + rank_ : i;
    VLM_CHECK_AS(shape_error, j >= 0 && j < rank_, "dimension ", i, " out of range for rank ", rank_);
    return j;
  }
  void push_back(std::int64_t v) {
    VLM_CHECK_AS(shape_error, rank_ < max_rank, "rank above ", max_rank);
    d_[static_cast<std::size_t>(rank_++)] = v;
  }
  std::vector<std::int64_t> to_vector() const { return {begin(), end()}; }

  friend bool operator==(const shape& a, const shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.d_[static_cast<std::size_t>(i)] != b.d_[static_cast<std::size_t>(i)]) return false;
    return true;
  }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(d_[static_cast<std::size_t>(i)]);
    return s + "]";
  }

 private:
  template <class It>
  void assign(It b, It e) {
    rank_ = 0;
    for (; b != e; ++b) push_back(*b);
  }
  std::array<std::int64_t, max_rank> d_{};
  int rank_ = 0;
};

// Row-major (contiguous) strides of a shape.
inline shape contiguous_strides(const shape& s) {
  shape st = s;
  std::int64_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

}  // namespace vlm
