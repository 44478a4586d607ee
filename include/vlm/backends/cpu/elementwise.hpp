// Elementwise ops on the CPU, with NumPy broadcasting for binary ops.
//   add sub mul div (broadcasting), scale, add_ (in place, accumulate), cast<To>,
//   silu, gelu_erf, gelu_tanh, silu_mul (SwiGLU's silu(gate) * up), and their backwards.
// Half types are computed in f32 and rounded once per op, as PyTorch does per kernel.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm::cpu_detail {

inline constexpr std::int64_t elementwise_grain = 1 << 15;

// Output shape of broadcasting a with b (NumPy rules).
inline vlm::shape broadcast_shape(const vlm::shape& a, const vlm::shape& b) {
  vlm::shape out;
  int r = std::max(a.rank(), b.rank());
  for (int i = 0; i < r; ++i) {
    std::int64_t da = i < r - a.rank() ? 1 : a[i - (r - a.rank())];
    std::int64_t db = i < r - b.rank() ? 1 : b[i - (r - b.rank())];
    VLM_CHECK_AS(shape_error, da == db || da == 1 || db == 1, "cannot broadcast ", a.str(), " with ", b.str());
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

// Strides of t seen through the broadcast shape `out` (0 on broadcast dimensions).
template <class T>
vlm::shape broadcast_strides(const tensor<T, cpu>& t, const vlm::shape& out) {
  vlm::shape st;
  int off = out.rank() - t.dim();
  for (int i = 0; i < out.rank(); ++i) {
    if (i < off || t.size(i - off) == 1) st.push_back(0);
    else st.push_back(t.stride(i - off));
  }
  return st;
}

// out[i] = f(a[i], b[i]) over the broadcast index space; out contiguous.
template <class To, class A, class B, class F>
void map2(tensor<To, cpu>& out, const tensor<A, cpu>& a, const tensor<B, cpu>& b, F f) {
  const vlm::shape& s = out.shape();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  To* o = out.data();
  if (a.shape() == s && b.shape() == s && a.is_contiguous() && b.is_contiguous()) {
    const A* pa = a.data();
    const B* pb = b.data();
    parallel_for(n, elementwise_grain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) o[i] = f(pa[i], pb[i]);
    });
    return;
  }
  const vlm::shape sa = broadcast_strides(a, s), sb = broadcast_strides(b, s);
  const int r = s.rank();
  const std::int64_t inner = r ? s[r - 1] : 1;
  const std::int64_t ia = r ? sa[r - 1] : 0, ib = r ? sb[r - 1] : 0;
  const std::int64_t outer = n / inner;
  parallel_for(outer, std::max<std::int64_t>(1, elementwise_grain / inner), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t row = r0; row < r1; ++row) {
      std::int64_t rem = row, oa = 0, ob = 0;
      for (int k = r - 2; k >= 0; --k) {
        std::int64_t idx = rem % s[k];
        rem /= s[k];
        oa += idx * sa[k];
        ob += idx * sb[k];
      }
      const A* pa = a.data() + oa;
      const B* pb = b.data() + ob;
      To* po = o + row * inner;
      for (std::int64_t i = 0; i < inner; ++i) po[i] = f(pa[i * ia], pb[i * ib]);
    }
  });
}

// out[i] = f(a[i]); out contiguous with a's shape.
template <class To, class A, class F>
void map1(tensor<To, cpu>& out, const tensor<A, cpu>& a, F f) {
  auto ac = a.contiguous();
  const A* pa = ac.data();
  To* o = out.data();
  parallel_for(a.numel(), elementwise_grain, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) o[i] = f(pa[i]);
  });
}

inline float silu_f(float x) { return x / (1.f + std::exp(-x)); }
inline float gelu_erf_f(float x) { return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh_f(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

}  // namespace vlm::cpu_detail

namespace vlm {

template <class To, class From>
tensor<To, cpu> cast(const tensor<From, cpu>& a) {
  if constexpr (std::is_same_v<To, From>) {
    return a;
  } else {
    auto out = tensor<To, cpu>::empty(a.shape());
    cpu_detail::map1(out, a, [](From x) { return convert<To>(x); });
    return out;
  }
}

#define VLM_CPU_BINARY(name, expr)                                                          \
  template <class T>                                                                        \
  tensor<T, cpu> name(const tensor<T, cpu>& a, const tensor<T, cpu>& b) {                   \
    auto out = tensor<T, cpu>::empty(cpu_detail::broadcast_shape(a.shape(), b.shape()));    \
    cpu_detail::map2(out, a, b, [](T x_, T y_) {                                            \
      float x = static_cast<float>(x_), y = static_cast<float>(y_);                         \
      return convert<T>(expr);                                                              \
    });                                                                                     \
    return out;                                                                             \
  }
VLM_CPU_BINARY(add, x + y)
VLM_CPU_BINARY(sub, x - y)
VLM_CPU_BINARY(mul, x * y)
VLM_CPU_BINARY(div, x / y)
#undef VLM_CPU_BINARY

// dst += src (same shape; src may broadcast into dst). Gradient accumulation.
template <class T>
void add_(tensor<T, cpu>& dst, const tensor<T, cpu>& src, float alpha = 1.f) {
  VLM_CHECK_AS(shape_error, dst.is_contiguous(), "add_ into a non-contiguous tensor");
  VLM_CHECK_AS(shape_error, cpu_detail::broadcast_shape(dst.shape(), src.shape()) == dst.shape(), "add_: ",
               src.shape().str(), " does not broadcast into ", dst.shape().str());
  cpu_detail::map2(dst, dst, src, [alpha](T x, T y) {
    return convert<T>(static_cast<float>(x) + alpha * static_cast<float>(y));
  });
}

template <class T>
tensor<T, cpu> scale(const tensor<T, cpu>& a, float s) {
  auto out = tensor<T, cpu>::empty(a.shape());
  cpu_detail::map1(out, a, [s](T x) { return convert<T>(static_cast<float>(x) * s); });
  return out;
}

#define VLM_CPU_UNARY(name, fn)                                          \
  template <class T>                                                     \
  tensor<T, cpu> name(const tensor<T, cpu>& a) {                         \
    auto out = tensor<T, cpu>::empty(a.shape());                         \
    cpu_detail::map1(out, a, [](T x) { return convert<T>(fn(static_cast<float>(x))); }); \
    return out;                                                          \
  }
VLM_CPU_UNARY(silu, cpu_detail::silu_f)
VLM_CPU_UNARY(gelu_erf, cpu_detail::gelu_erf_f)
VLM_CPU_UNARY(gelu_tanh, cpu_detail::gelu_tanh_f)
#undef VLM_CPU_UNARY

// d/dx of the activations, given the input x and the output gradient dy.
template <class T>
tensor<T, cpu> silu_backward(const tensor<T, cpu>& x, const tensor<T, cpu>& dy) {
  auto out = tensor<T, cpu>::empty(x.shape());
  cpu_detail::map2(out, x, dy, [](T x_, T g_) {
    float x = static_cast<float>(x_), s = 1.f / (1.f + std::exp(-x));
    return convert<T>(static_cast<float>(g_) * s * (1.f + x * (1.f - s)));
  });
  return out;
}
template <class T>
tensor<T, cpu> gelu_erf_backward(const tensor<T, cpu>& x, const tensor<T, cpu>& dy) {
  auto out = tensor<T, cpu>::empty(x.shape());
  cpu_detail::map2(out, x, dy, [](T x_, T g_) {
    float x = static_cast<float>(x_);
    float cdf = 0.5f * (1.f + std::erf(x * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * std::exp(-0.5f * x * x);
    return convert<T>(static_cast<float>(g_) * (cdf + x * pdf));
  });
  return out;
}
template <class T>
tensor<T, cpu> gelu_tanh_backward(const tensor<T, cpu>& x, const tensor<T, cpu>& dy) {
  auto out = tensor<T, cpu>::empty(x.shape());
  cpu_detail::map2(out, x, dy, [](T x_, T g_) {
    float x = static_cast<float>(x_);
    const float k = 0.7978845608028654f;
    float u = k * (x + 0.044715f * x * x * x), t = std::tanh(u);
    float du = k * (1.f + 3.f * 0.044715f * x * x);
    return convert<T>(static_cast<float>(g_) * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du));
  });
  return out;
}

// SwiGLU core: silu(gate) * up, fused (one pass, one rounding for half types).
template <class T>
tensor<T, cpu> silu_mul(const tensor<T, cpu>& gate, const tensor<T, cpu>& up) {
  VLM_CHECK_AS(shape_error, gate.shape() == up.shape(), "silu_mul: gate ", gate.shape().str(), " vs up ",
               up.shape().str());
  auto out = tensor<T, cpu>::empty(gate.shape());
  cpu_detail::map2(out, gate, up, [](T g, T u) {
    return convert<T>(cpu_detail::silu_f(static_cast<float>(g)) * static_cast<float>(u));
  });
  return out;
}
// Gradients of silu(gate) * up: d_gate = dy * up * silu'(gate), d_up = dy * silu(gate).
template <class T>
void silu_mul_backward(const tensor<T, cpu>& gate, const tensor<T, cpu>& up, const tensor<T, cpu>& dy,
                       tensor<T, cpu>& d_gate, tensor<T, cpu>& d_up) {
  auto g = gate.contiguous(), u = up.contiguous(), d = dy.contiguous();
  d_gate = tensor<T, cpu>::empty(gate.shape());
  d_up = tensor<T, cpu>::empty(gate.shape());
  T *pg = d_gate.data(), *pu = d_up.data();
  cpu_detail::parallel_for(g.numel(), cpu_detail::elementwise_grain, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      float x = static_cast<float>(g.data()[i]), s = 1.f / (1.f + std::exp(-x));
      float gy = static_cast<float>(d.data()[i]);
      pg[i] = convert<T>(gy * static_cast<float>(u.data()[i]) * s * (1.f + x * (1.f - s)));
      pu[i] = convert<T>(gy * x * s);
    }
  });
}

}  // namespace vlm
