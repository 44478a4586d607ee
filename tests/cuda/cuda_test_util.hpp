// Shared helpers for the [cuda] tests: device guard, seeded random tensors, and a comparison
// of a vlm::cuda result against the vlm::cpu op on the same data that names the worst element.
// Tolerances are stated once per dtype (STYLE.md section 8): f32 1e-5, bf16 1e-2, f16 1e-3
// relative, with an absolute floor of 0.1 * rtol * max|reference| for elements near zero.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <vector>

#include "vlm/backends/cpu.hpp"
#include "vlm/backends/cuda.hpp"

// Every [cuda] test case starts with this: without a device it warns and returns, and the
// listener in test_elementwise_norm.cu then ends the run with exit code 77 (CTest: skipped).
#define VLM_REQUIRE_CUDA_DEVICE()                  \
  do {                                             \
    if (vlm::cuda_rt::device_count() == 0) {       \
      WARN("no CUDA device: test case not run");   \
      return;                                      \
    }                                              \
  } while (0)

namespace vlm_test {

using vlm::bf16;
using vlm::cpu;
using vlm::cuda;
using vlm::tensor;

template <class T> inline constexpr double rtol_v = 1e-5;
template <> inline constexpr double rtol_v<bf16> = 1e-2;
template <> inline constexpr double rtol_v<vlm::f16> = 1e-3;

// Uniform values in [lo, hi) rounded to T, from a fixed seed.
template <class T>
tensor<T, cpu> rand_t(const vlm::shape& s, std::uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(s.numel()));
  for (auto& x : v) x = vlm::convert<T>(u(g));
  return tensor<T, cpu>::from_host(s, std::span<const T>(v));
}

template <class T>
tensor<T, cuda> dev(const tensor<T, cpu>& h) {
  return vlm::to_backend<cuda>(h);
}

// Checks got (cuda) against want (cpu) element by element; on failure prints the worst index,
// both values, the max abs error and the NMSE.
template <class T>
void check_close(const tensor<T, cuda>& got, const tensor<T, cpu>& want, double rtol, const std::string& what) {
  INFO(what << ": got shape " << got.shape().str() << ", want " << want.shape().str());
  REQUIRE(got.shape() == want.shape());
  const std::vector<T> g = got.to_vector(), w = want.to_vector();
  double max_ref = 0, max_err = 0, se = 0, sr = 0;
  for (const T& x : w) max_ref = std::max(max_ref, std::abs(static_cast<double>(static_cast<float>(x))));
  const double atol = 0.1 * rtol * max_ref;
  std::size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double a = static_cast<float>(g[i]), b = static_cast<float>(w[i]);
    const double err = std::isnan(a) != std::isnan(b) ? INFINITY : (std::isnan(a) ? 0 : std::abs(a - b));
    const double allowed = rtol * std::abs(b) + atol;
    max_err = std::max(max_err, err);
    se += err * err;
    sr += b * b;
    if (err > allowed) ++bad;
    if (err - allowed > worst_excess) {
      worst_excess = err - allowed;
      worst = i;
    }
  }
  std::ostringstream os;
  if (!g.empty())
    os << what << ": " << bad << " of " << g.size() << " elements off; worst index " << worst << " got "
       << static_cast<float>(g[worst]) << " want " << static_cast<float>(w[worst]) << "; max abs err " << max_err
       << ", NMSE " << (sr > 0 ? se / sr : se) << ", rtol " << rtol;
  INFO(os.str());
  CHECK(bad == 0);
}

template <class T>
void check_close(const tensor<T, cuda>& got, const tensor<T, cpu>& want, const std::string& what) {
  check_close(got, want, rtol_v<T>, what);
}

inline void check_near(double got, double want, double rtol, const std::string& what) {
  INFO(what << ": got " << got << " want " << want);
  CHECK(std::abs(got - want) <= rtol * std::max(1.0, std::abs(want)));
}

}  // namespace vlm_test
