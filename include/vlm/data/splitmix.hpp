// splitmix64: a tiny generator that gives the same numbers on every platform and standard
// library (std:: distributions do not), for data that must be reproducible from a seed.
#pragma once
#include <cstdint>

namespace vlm::data {

struct splitmix {
  std::uint64_t state;
  explicit splitmix(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0); multiply-shift, bias < 2^-32.
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  int between(int lo, int hi) { return lo + static_cast<int>(below(static_cast<std::uint32_t>(hi - lo + 1))); }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  bool chance(float p) { return uniform() < p; }
  // Approximately standard normal: the sum of four uniform 16-bit draws, centred and scaled to
  // unit variance (Irwin-Hall), close enough for pixel noise and cheaper than Box-Muller.
  float normal() {
    const std::uint64_t bits = next();
    const float sum = static_cast<float>((bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48));
    return (sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
  }
};

// Mixes two values into one seed (sample i of split s gets its own stream).
inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  splitmix r(a ^ (b * 0xd1342543de82ef95ull + 0x632be59bd9b4e019ull));
  r.next();
  return r.next();
}

}  // namespace vlm::data
