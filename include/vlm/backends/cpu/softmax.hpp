// Softmax over the last dimension (f32 arithmetic, max-subtracted), log-softmax, and the
// softmax backward dx = y * (dy - sum(dy * y)).
#pragma once
#include <cmath>
#include <limits>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

namespace cpu_detail {
// In place on one row of f32: y = softmax(x). A row of all -inf gives zeros (fully masked).
inline void softmax_row(float* x, std::int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  if (m == -std::numeric_limits<float>::infinity()) {
    for (std::int64_t i = 0; i < n; ++i) x[i] = 0.f;
    return;
  }
  double s = 0.0;  // double: a long row (a vocabulary) summed in f32 drifts by ~1e-5
  for (std::int64_t i = 0; i < n; ++i) s += (x[i] = std::exp(x[i] - m));
  float inv = static_cast<float>(1.0 / s);
  for (std::int64_t i = 0; i < n; ++i) x[i] *= inv;
}

template <class T, class RowFn>
tensor<T, cpu> rowwise(const tensor<T, cpu>& x, RowFn fn) {
  auto xc = x.contiguous();
  const std::int64_t C = x.size(-1), R = x.numel() / std::max<std::int64_t>(1, C);
  auto out = tensor<T, cpu>::empty(x.shape());
  parallel_for(R, std::max<std::int64_t>(1, 8192 / std::max<std::int64_t>(1, C)), [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> buf(static_cast<std::size_t>(C));
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* in = xc.data() + r * C;
      for (std::int64_t i = 0; i < C; ++i) buf[static_cast<std::size_t>(i)] = static_cast<float>(in[i]);
      fn(buf.data(), C);
      T* o = out.data() + r * C;
      for (std::int64_t i = 0; i < C; ++i) o[i] = convert<T>(buf[static_cast<std::size_t>(i)]);
    }
  });
  return out;
}
}  // namespace cpu_detail

template <class T>
tensor<T, cpu> softmax(const tensor<T, cpu>& x) {
  return cpu_detail::rowwise(x, cpu_detail::softmax_row);
}

template <class T>
tensor<T, cpu> log_softmax(const tensor<T, cpu>& x) {
  return cpu_detail::rowwise(x, [](float* r, std::int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < n; ++i) m = std::max(m, r[i]);
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(r[i] - m));
    // (x - m) - log(s), not x - (m + log(s)): rounding m + log(s) at the logits' magnitude
    // would cost up to half an ulp of |m| (2.4e-4 at 4096) in every log-probability.
    const float log_s = static_cast<float>(std::log(s));
    for (std::int64_t i = 0; i < n; ++i) r[i] = (r[i] - m) - log_s;
  });
}

// Given y = softmax(x) and dy, returns dx.
template <class T>
tensor<T, cpu> softmax_backward(const tensor<T, cpu>& y, const tensor<T, cpu>& dy) {
  auto yc = y.contiguous(), gc = dy.contiguous();
  const std::int64_t C = y.size(-1), R = y.numel() / std::max<std::int64_t>(1, C);
  auto dx = tensor<T, cpu>::empty(y.shape());
  cpu_detail::parallel_for(R, 16, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const T *py = yc.data() + r * C, *pg = gc.data() + r * C;
      double dot = 0.0;
      for (std::int64_t i = 0; i < C; ++i) dot += static_cast<double>(static_cast<float>(py[i])) * static_cast<float>(pg[i]);
      for (std::int64_t i = 0; i < C; ++i)
        dx.data()[r * C + i] = convert<T>(static_cast<float>(py[i]) * (static_cast<float>(pg[i]) - static_cast<float>(dot)));
    }
  });
  return dx;
}

}  // namespace vlm
