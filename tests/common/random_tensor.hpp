// Test helpers: seeded random tensors, non-contiguous copies of a tensor, and host views as
// double vectors (what the naive double references in the tests read).
//   rng r(seed);  randn<T>(r, {M, K}, stddev);  uniform<T>(r, shape, lo, hi)
//   transposed_layout(t): same logical values, stored transposed (stride(-1) != 1)
//   padded_layout(t, pad): same values in rows of C + pad (stride(-2) == C + pad)
//   to_double(t): row-major logical values as std::vector<double>
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "vlm/core/tensor.hpp"

namespace vlm_test {

struct rng {
  std::mt19937 gen;
  explicit rng(std::uint32_t seed) : gen(seed) {}
  double normal(double mean = 0.0, double stddev = 1.0) { return std::normal_distribution<double>(mean, stddev)(gen); }
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(gen); }
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(gen);
  }
};

template <class T>
vlm::tensor<T> from_doubles(const vlm::shape& s, const std::vector<double>& v) {
  std::vector<T> host(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) host[i] = vlm::convert<T>(static_cast<float>(v[i]));
  return vlm::tensor<T>::from_host(s, host);
}

template <class T>
vlm::tensor<T> randn(rng& r, const vlm::shape& s, double stddev = 1.0, double mean = 0.0) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  for (auto& x : v) x = r.normal(mean, stddev);
  return from_doubles<T>(s, v);
}

template <class T>
vlm::tensor<T> uniform(rng& r, const vlm::shape& s, double lo, double hi) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  for (auto& x : v) x = r.uniform(lo, hi);
  return from_doubles<T>(s, v);
}

template <class T>
std::vector<double> to_double(const vlm::tensor<T>& t) {
  std::vector<T> h = t.to_vector();
  std::vector<double> out(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    if constexpr (vlm::is_half_v<T>) out[i] = static_cast<double>(static_cast<float>(h[i]));
    else out[i] = static_cast<double>(h[i]);
  }
  return out;
}

// Same logical values, stored with the last two dimensions swapped (a transpose view).
template <class T>
vlm::tensor<T> transposed_layout(const vlm::tensor<T>& t) {
  vlm::shape s = t.shape();
  std::swap(s[-1], s[-2]);
  auto buf = vlm::tensor<T>::empty(s);
  auto view = buf.transpose(-1, -2);
  vlm::copy_into(view, t);
  return view;
}

// Same logical values, stored in rows of C + pad elements (a narrow view; unit inner stride).
template <class T>
vlm::tensor<T> padded_layout(const vlm::tensor<T>& t, std::int64_t pad = 3) {
  vlm::shape s = t.shape();
  s[-1] += pad;
  auto buf = vlm::tensor<T>::full(s, vlm::convert<T>(-7.f));
  auto view = buf.narrow(-1, 1, t.size(-1));
  vlm::copy_into(view, t);
  return view;
}

}  // namespace vlm_test
