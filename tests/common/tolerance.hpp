// The one place test tolerances are stated, and the element-wise comparison every value test
// uses. An element passes when |got - want| <= rel * (|want| + rms(want)): relative error
// `rel`, with an absolute floor of `rel` times the tensor's own RMS so elements that cancel
// to near zero (a dot product of random vectors) are judged at the scale of the tensor.
//   f32  rel 1e-5  (~100 f32 ulps; f32 kernels against a double reference)
//   bf16 rel 1e-2  (bf16 keeps 8 bits: one rounding is <= 2^-9 = 0.2%, a few roundings < 1%)
//   f16  rel 2e-3
// On failure the report names the tensor, the count of bad elements, the worst index (as a
// multi-index), got/want there, max abs error, max rel error and NMSE (sum err^2 / sum want^2).
#pragma once
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "random_tensor.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm_test {

template <class T> struct tolerance;
template <> struct tolerance<float> { static constexpr double rel = 1e-5; };
template <> struct tolerance<vlm::bf16> { static constexpr double rel = 1e-2; };
template <> struct tolerance<vlm::f16> { static constexpr double rel = 2e-3; };

struct compare_result {
  bool ok = true;
  std::string report;
};

inline std::string index_str(const vlm::shape& s, std::int64_t flat) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(s.rank()));
  for (int d = s.rank() - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = s[d] ? flat % s[d] : 0;
    flat = s[d] ? flat / s[d] : 0;
  }
  std::string out = "[";
  for (std::size_t i = 0; i < idx.size(); ++i) out += (i ? ", " : "") + std::to_string(idx[i]);
  return out + "]";
}

// Compares got (row-major logical values with shape s) with want.
inline compare_result compare_values(std::string_view name, const vlm::shape& s, const std::vector<double>& got,
                                     const std::vector<double>& want, double rel) {
  compare_result r;
  std::ostringstream os;
  os.precision(6);
  if (got.size() != want.size()) {
    os << name << ": got " << got.size() << " elements " << s.str() << ", want " << want.size();
    return {false, os.str()};
  }
  double ss_want = 0, ss_err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) ss_want += want[i] * want[i];
  const double rms = want.empty() ? 0.0 : std::sqrt(ss_want / static_cast<double>(want.size()));
  const double floor = rel * rms;
  double max_abs = 0, max_rel = 0, worst_ratio = -1;
  std::size_t worst = 0, bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double allowed = rel * std::fabs(want[i]) + floor;
    // NaN compares false everywhere: make it the worst element.
    const double ratio = std::isfinite(err) ? (allowed > 0 ? err / allowed : (err > 0 ? INFINITY : 0.0)) : INFINITY;
    if (!(err <= allowed)) ++bad;
    if (ratio > worst_ratio) { worst_ratio = ratio; worst = i; }
    if (std::isfinite(err)) {
      ss_err += err * err;
      max_abs = std::max(max_abs, err);
      if (want[i] != 0) max_rel = std::max(max_rel, err / std::fabs(want[i]));
    } else {
      ss_err = max_abs = max_rel = INFINITY;
    }
  }
  r.ok = bad == 0;
  os << name << " " << s.str() << ": " << bad << " of " << want.size() << " elements outside rel " << rel
     << " (abs floor " << floor << ")";
  if (!want.empty())
    os << "; worst at " << index_str(s, static_cast<std::int64_t>(worst)) << ": got " << got[worst] << " want "
       << want[worst] << "; max abs err " << max_abs << ", max rel err " << max_rel << ", NMSE "
       << (ss_want > 0 ? ss_err / ss_want : ss_err);
  r.report = os.str();
  return r;
}

template <class T>
compare_result compare(std::string_view name, const vlm::tensor<T>& got, const std::vector<double>& want,
                       double rel = tolerance<T>::rel) {
  return compare_values(name, got.shape(), to_double(got), want, rel);
}
template <class T, class U>
compare_result compare(std::string_view name, const vlm::tensor<T>& got, const vlm::tensor<U>& want,
                       double rel = tolerance<T>::rel) {
  if (!(got.shape() == want.shape()))
    return {false, std::string(name) + ": shape " + got.shape().str() + ", want " + want.shape().str()};
  return compare_values(name, got.shape(), to_double(got), to_double(want), rel);
}

// Bitwise-equal values (same shape): for properties that must hold exactly.
template <class T>
compare_result compare_exact(std::string_view name, const vlm::tensor<T>& got, const vlm::tensor<T>& want) {
  if (!(got.shape() == want.shape()))
    return {false, std::string(name) + ": shape " + got.shape().str() + ", want " + want.shape().str()};
  return compare_values(name, got.shape(), to_double(got), to_double(want), 0.0);
}

}  // namespace vlm_test

// CHECK that got matches want within the dtype's tolerance (or an explicit rel), with the
// report printed on failure: VLM_CHECK_CLOSE("name", got, want [, rel]).
#define VLM_CHECK_CLOSE(...)                                  \
  do {                                                        \
    auto vlm_cmp_ = ::vlm_test::compare(__VA_ARGS__);         \
    INFO(vlm_cmp_.report);                                    \
    CHECK(vlm_cmp_.ok);                                       \
  } while (0)
#define VLM_CHECK_EXACT(...)                                  \
  do {                                                        \
    auto vlm_cmp_ = ::vlm_test::compare_exact(__VA_ARGS__);   \
    INFO(vlm_cmp_.report);                                    \
    CHECK(vlm_cmp_.ok);                                       \
  } while (0)
