// bf16 / f16 conversions against an independent reference computed in double with
// frexp/ldexp/nearbyint: round to nearest, ties to even; NaN stays NaN; overflow to Inf;
// f16 subnormals; every f16 and bf16 bit pattern round-trips through float.
#include <catch2/catch.hpp>

#include <cfenv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vlm/core/dtype.hpp>

namespace {

float from_bits32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint32_t bits32(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Value of a binary16 / bfloat16 bit pattern, decoded field by field.
double ref_decode(std::uint16_t h, int mant_bits, int exp_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const std::uint32_t mant = h & ((1u << mant_bits) - 1);
  const std::uint32_t exp = (h >> mant_bits) & ((1u << exp_bits) - 1);
  const double sign = (h >> 15) ? -1.0 : 1.0;
  if (exp == (1u << exp_bits) - 1)
    return mant ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  if (exp == 0) return sign * std::ldexp(double(mant), 1 - bias - mant_bits);
  return sign * std::ldexp(double(mant | (1u << mant_bits)), int(exp) - bias - mant_bits);
}
double ref_f16(std::uint16_t h) { return ref_decode(h, 10, 5); }
double ref_bf16(std::uint16_t h) { return ref_decode(h, 7, 8); }

// x rounded to a format with `mant_bits` stored mantissa bits, minimum normal exponent
// `min_exp` and largest finite value max_finite; ties to even via nearbyint.
double ref_round(float x, int mant_bits, int min_exp, double max_finite) {
  if (std::isnan(x)) return x;
  if (std::isinf(x)) return x;
  double a = std::fabs(double(x));
  if (a == 0) return double(x);
  int e;
  std::frexp(a, &e);                               // a = m * 2^e, m in [0.5, 1): floor(log2 a) = e - 1
  int q = std::max(e - 1 - mant_bits, min_exp - mant_bits);  // exponent of one unit in the last place
  double r = std::nearbyint(std::ldexp(a, -q));    // exact scaling, then round half to even
  double v = std::ldexp(r, q);
  if (v > max_finite) v = std::numeric_limits<double>::infinity();
  return std::copysign(v, double(x));
}
double ref_round_f16(float x) { return ref_round(x, 10, -14, 65504.0); }
double ref_round_bf16(float x) { return ref_round(x, 7, -126, ref_bf16(0x7f7f)); }

// Same value, same sign of zero, both NaN or neither.
bool same_value(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  return got == want && std::signbit(got) == std::signbit(want);
}

std::vector<float> sweep_floats() {
  std::vector<float> v;
  // A stride through all 2^32 patterns (prime step: every exponent, varied mantissas)...
  for (std::uint64_t u = 0; u < (1ull << 32); u += 4099) v.push_back(from_bits32(static_cast<std::uint32_t>(u)));
  // ...and specials.
  for (std::uint32_t u : {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff7fffffu,
                          0x7f800000u, 0xff800000u, 0x33000000u, 0x33000001u, 0x33800000u, 0x387fc000u,
                          0x38800000u, 0x477fe000u, 0x477fefffu, 0x477ff000u, 0x7f7f8000u, 0x7f7f7fffu})
    v.push_back(from_bits32(u));
  return v;
}

// Midpoints between neighbouring representable values (the ties) and their float neighbours,
// for every finite pattern of a 16-bit format, both signs.
template <class Decode>
std::vector<float> tie_floats(Decode decode, std::uint16_t last_finite) {
  std::vector<float> v;
  for (std::uint32_t h = 0; h < last_finite; ++h) {
    double lo = decode(static_cast<std::uint16_t>(h)), hi = decode(static_cast<std::uint16_t>(h + 1));
    float mid = static_cast<float>((lo + hi) / 2);  // exact: needs one more bit than the format has
    REQUIRE(double(mid) == (lo + hi) / 2);
    for (float x : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY)}) {
      v.push_back(x);
      v.push_back(-x);
    }
  }
  return v;
}

}  // namespace

TEST_CASE("f16: all 65536 bit patterns decode like the reference and round-trip", "[cpu][core][property]") {
  std::uint32_t checked = 0;
  for (std::uint32_t h = 0; h < 65536; ++h, ++checked) {
    auto b = static_cast<std::uint16_t>(h);
    float f = vlm::f16::to_float(b);
    double want = ref_f16(b);
    if (!same_value(double(f), want)) FAIL("f16 bits 0x" << std::hex << h << " -> " << f << ", expected " << want);
    std::uint16_t back = vlm::f16::from_float(f);
    if (std::isnan(want)) {
      if (!((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0 && (back & 0x8000) == (b & 0x8000)))
        FAIL("NaN 0x" << std::hex << h << " came back as 0x" << back);
    } else if (back != b) {
      FAIL("f16 bits 0x" << std::hex << h << " round-tripped to 0x" << back);
    }
  }
  CHECK(checked == 65536);  // every pattern went through the checks above (they FAIL on the first mismatch)
}

TEST_CASE("bf16: all 65536 bit patterns decode like the reference and round-trip", "[cpu][core][property]") {
  std::uint32_t checked = 0;
  for (std::uint32_t h = 0; h < 65536; ++h, ++checked) {
    auto b = static_cast<std::uint16_t>(h);
    float f = vlm::bf16::to_float(b);
    double want = ref_bf16(b);
    if (!same_value(double(f), want)) FAIL("bf16 bits 0x" << std::hex << h << " -> " << f << ", expected " << want);
    std::uint16_t back = vlm::bf16::from_float(f);
    if (std::isnan(want)) {
      if (!((back & 0x7f80) == 0x7f80 && (back & 0x7f) != 0 && (back & 0x8000) == (b & 0x8000)))
        FAIL("NaN 0x" << std::hex << h << " came back as 0x" << back);
    } else if (back != b) {
      FAIL("bf16 bits 0x" << std::hex << h << " round-tripped to 0x" << back);
    }
  }
  CHECK(checked == 65536);  // every pattern went through the checks above (they FAIL on the first mismatch)
}

TEST_CASE("f16::from_float rounds like the reference (ties, subnormals, overflow)", "[cpu][core][property]") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  auto check = [](const std::vector<float>& xs) {
    std::size_t bad = 0;
    for (float x : xs) {
      double got = vlm::f16::to_float(vlm::f16::from_float(x));
      double want = ref_round_f16(x);
      if (!same_value(got, want) && bad++ < 5)
        FAIL_CHECK("f16(" << x << " = 0x" << std::hex << bits32(x) << ") -> " << got << ", expected " << want);
    }
    return bad;
  };
  CHECK(check(sweep_floats()) == 0);
  CHECK(check(tie_floats(ref_f16, 0x7bff)) == 0);
}

TEST_CASE("bf16::from_float rounds like the reference (ties, subnormals, overflow)", "[cpu][core][property]") {
  auto check = [](const std::vector<float>& xs) {
    std::size_t bad = 0;
    for (float x : xs) {
      double got = vlm::bf16::to_float(vlm::bf16::from_float(x));
      double want = ref_round_bf16(x);
      if (!same_value(got, want) && bad++ < 5)
        FAIL_CHECK("bf16(" << x << " = 0x" << std::hex << bits32(x) << ") -> " << got << ", expected " << want);
    }
    return bad;
  };
  CHECK(check(sweep_floats()) == 0);
  CHECK(check(tie_floats(ref_bf16, 0x7f7f)) == 0);
}

TEST_CASE("f16 and bf16: hand-checked cases", "[cpu][core]") {
  using vlm::bf16;
  using vlm::f16;
  // Ties to even.
  CHECK(f16::from_float(1.0f + std::ldexp(1.f, -11)) == 0x3c00);      // halfway 1 .. 1+2^-10 -> 1
  CHECK(f16::from_float(1.0f + 3 * std::ldexp(1.f, -11)) == 0x3c02);  // halfway 1+2^-10 .. 1+2^-9 -> even
  CHECK(bf16::from_float(1.0f + std::ldexp(1.f, -8)) == 0x3f80);
  CHECK(bf16::from_float(1.0f + 3 * std::ldexp(1.f, -8)) == 0x3f82);
  CHECK(bf16::from_float(std::nextafter(1.0f + std::ldexp(1.f, -8), 2.f)) == 0x3f81);
  // Overflow.
  CHECK(f16::from_float(65504.f) == 0x7bff);
  CHECK(f16::from_float(65519.99f) == 0x7bff);
  CHECK(f16::from_float(65520.f) == 0x7c00);
  CHECK(f16::from_float(-1e10f) == 0xfc00);
  CHECK(bf16::from_float(std::numeric_limits<float>::max()) == 0x7f80);
  CHECK(bf16::from_float(-std::numeric_limits<float>::infinity()) == 0xff80);
  // f16 subnormals.
  CHECK(f16::from_float(std::ldexp(1.f, -24)) == 0x0001);
  CHECK(f16::from_float(std::ldexp(1.f, -25)) == 0x0000);  // tie -> even (0)
  CHECK(f16::from_float(-std::ldexp(1.f, -25)) == 0x8000);
  CHECK(f16::from_float(std::nextafter(std::ldexp(1.f, -25), 1.f)) == 0x0001);
  CHECK(f16::from_float(3 * std::ldexp(1.f, -25)) == 0x0002);  // tie 1 .. 2 -> 2
  CHECK(f16::from_float(std::ldexp(1.f, -14) - std::ldexp(1.f, -25)) == 0x0400);  // tie 0x3ff .. 0x400
  CHECK(f16::to_float(0x0001) == std::ldexp(1.f, -24));
  CHECK(f16::to_float(0x03ff) == std::ldexp(1023.f, -24));
  CHECK(f16::from_float(1e-30f) == 0x0000);
  // NaN stays NaN (signalling inputs come back quiet), sign kept; Inf stays Inf.
  for (std::uint32_t u : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7fbfffffu}) {
    float nan = from_bits32(u);
    std::uint16_t h = f16::from_float(nan), b = bf16::from_float(nan);
    CHECK(std::isnan(f16::to_float(h)));
    CHECK(std::isnan(bf16::to_float(b)));
    CHECK((h & 0x0200) != 0);  // quiet bit
    CHECK((b & 0x0040) != 0);
    CHECK((h >> 15) == (u >> 31));
    CHECK((b >> 15) == (u >> 31));
  }
  CHECK(std::isinf(f16::to_float(f16::from_float(INFINITY))));
  CHECK(f16::from_float(-INFINITY) == 0xfc00);
  CHECK(bf16::to_float(0xff80) == -INFINITY);
}

TEST_CASE("dtype names, sizes and convert", "[cpu][core]") {
  CHECK(vlm::dtype_name(vlm::dtype::bf16) == "BF16");
  CHECK(vlm::dtype_name(vlm::dtype::boolean) == "BOOL");
  CHECK(vlm::dtype_size(vlm::dtype::i64) == 8);
  CHECK(vlm::dtype_size(vlm::dtype::f16) == 2);
  CHECK(vlm::dtype_of_v<vlm::bf16> == vlm::dtype::bf16);
  CHECK(float(vlm::convert<vlm::bf16>(vlm::f16(0.5f))) == 0.5f);
  CHECK(vlm::convert<std::int32_t>(vlm::bf16(-3.0f)) == -3);
  CHECK(float(vlm::convert<vlm::f16>(std::int64_t(2049))) == 2048.f);  // 2049 is a tie -> even
  CHECK(vlm::convert<float>(true) == 1.f);
}
