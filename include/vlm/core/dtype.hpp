// Element types: f32 (float), bf16, f16, i32, i64, u8, bool; conversions with IEEE
// round-to-nearest-even, NaN kept NaN (quiet), Inf kept Inf, f16 subnormals handled.
// dtype_of<T> maps a C++ type to its runtime tag (safetensors names: F32 BF16 F16 ...).
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "vlm/core/config.hpp"
#include "vlm/core/error.hpp"

namespace vlm {

// bfloat16: the top 16 bits of an IEEE float.
struct bf16 {
  std::uint16_t bits = 0;
  bf16() = default;
  VLM_HD explicit bf16(float f) : bits(from_float(f)) {}
  VLM_HD operator float() const { return to_float(bits); }

  VLM_HD static std::uint16_t from_float(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    // round to nearest, ties to even: add 0x7fff plus the lowest kept bit.
    std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>((u + rounding) >> 16);
  }
  VLM_HD static float to_float(std::uint16_t b) {
    std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static bf16 from_bits(std::uint16_t b) { bf16 r; r.bits = b; return r; }
};

// IEEE binary16.
struct f16 {
  std::uint16_t bits = 0;
  f16() = default;
  VLM_HD explicit f16(float f) : bits(from_float(f)) {}
  VLM_HD operator float() const { return to_float(bits); }

  VLM_HD static std::uint16_t from_float(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    std::uint32_t sign = (u >> 16) & 0x8000u;
    std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
    if (a < 0x38800000u) {  // result is subnormal or zero (|f| < 2^-14)
      if (a < 0x33000000u) return static_cast<std::uint16_t>(sign);  // < 2^-25: rounds to 0
      int exp = static_cast<int>(a >> 23);  // biased f32 exponent
      std::uint32_t mant = (a & 0x7fffffu) | 0x800000u;
      // value = mant * 2^(exp-150) = (mant >> (126-exp)) units of the f16 subnormal step 2^-24.
      int shift = 126 - exp;  // in [14, 24]
      std::uint32_t kept = mant >> shift;
      std::uint32_t rem = mant & ((1u << shift) - 1u);
      std::uint32_t half = 1u << (shift - 1);
      if (rem > half || (rem == half && (kept & 1u))) ++kept;
      return static_cast<std::uint16_t>(sign | kept);
    }
    // normal: rebias exponent 127 -> 15 and round the 13 dropped bits to nearest even.
    std::uint32_t r = a - 0x38000000u;
    std::uint32_t kept = r >> 13;
    std::uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (kept & 1u))) ++kept;  // may carry into the exponent: fine
    return static_cast<std::uint16_t>(sign | kept);
  }
  VLM_HD static float to_float(std::uint16_t h) {
    std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t u;
    if (exp == 0x1fu) {
      u = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
      if (mant == 0) {
        u = sign;
      } else {  // subnormal: normalise
        int e = -1;
        do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
        u = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
      }
    } else {
      u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static f16 from_bits(std::uint16_t b) { f16 r; r.bits = b; return r; }
};

enum class dtype : std::uint8_t { f32, bf16, f16, i32, i64, u8, boolean };

inline std::size_t dtype_size(dtype d) {
  switch (d) {
    case dtype::f32: case dtype::i32: return 4;
    case dtype::bf16: case dtype::f16: return 2;
    case dtype::i64: return 8;
    case dtype::u8: case dtype::boolean: return 1;
  }
  return 0;
}

// safetensors spelling.
inline std::string_view dtype_name(dtype d) {
  switch (d) {
    case dtype::f32: return "F32";
    case dtype::bf16: return "BF16";
    case dtype::f16: return "F16";
    case dtype::i32: return "I32";
    case dtype::i64: return "I64";
    case dtype::u8: return "U8";
    case dtype::boolean: return "BOOL";
  }
  return "?";
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr dtype value = dtype::f32; };
template <> struct dtype_of<bf16> { static constexpr dtype value = dtype::bf16; };
template <> struct dtype_of<f16> { static constexpr dtype value = dtype::f16; };
template <> struct dtype_of<std::int32_t> { static constexpr dtype value = dtype::i32; };
template <> struct dtype_of<std::int64_t> { static constexpr dtype value = dtype::i64; };
template <> struct dtype_of<std::uint8_t> { static constexpr dtype value = dtype::u8; };
template <> struct dtype_of<bool> { static constexpr dtype value = dtype::boolean; };
template <class T> inline constexpr dtype dtype_of_v = dtype_of<T>::value;

// Floating types whose arithmetic is done in f32 (accumulate type).
template <class T> inline constexpr bool is_half_v = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;
template <class T> inline constexpr bool is_float_v = std::is_same_v<T, float> || is_half_v<T>;

// Convert between any two element types through float / integer arithmetic.
template <class To, class From>
VLM_HD To convert(From x) {
  if constexpr (std::is_same_v<To, From>) return x;
  else if constexpr (is_half_v<To>) return To(static_cast<float>(x));
  else if constexpr (is_half_v<From>) return static_cast<To>(static_cast<float>(x));
  else return static_cast<To>(x);
}

}  // namespace vlm
