// Reductions on the CPU, accumulated in double for sums (so tests can compare to a double
// reference at f32 resolution) and returned in T.
//   sum_last(x) [..., C] -> [...]      max_last(x) [..., C] -> [...]   mean_last
//   sum_rows(x) [..., C] -> [C]  (sum over every leading dimension: bias gradients)
//   sum_all(x) -> double
#pragma once
#include <cmath>
#include <limits>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

namespace cpu_detail {
template <class T>
vlm::shape drop_last(const tensor<T, cpu>& x) {
  vlm::shape s;
  for (int i = 0; i + 1 < x.dim(); ++i) s.push_back(x.size(i));
  return s;
}
template <class T, class F>
tensor<T, cpu> reduce_last(const tensor<T, cpu>& x, F f) {
  auto xc = x.contiguous();
  const std::int64_t C = x.size(-1), R = x.numel() / std::max<std::int64_t>(1, C);
  auto out = tensor<T, cpu>::empty(drop_last(x));
  parallel_for(R, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(1, C)), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) out.data()[r] = convert<T>(f(xc.data() + r * C, C));
  });
  return out;
}
}  // namespace cpu_detail

template <class T>
tensor<T, cpu> sum_last(const tensor<T, cpu>& x) {
  return cpu_detail::reduce_last(x, [](const T* p, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(static_cast<float>(p[i]));
    return static_cast<float>(s);
  });
}
template <class T>
tensor<T, cpu> mean_last(const tensor<T, cpu>& x) {
  return cpu_detail::reduce_last(x, [](const T* p, std::int64_t n) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(static_cast<float>(p[i]));
    return static_cast<float>(s / static_cast<double>(n));
  });
}
template <class T>
tensor<T, cpu> max_last(const tensor<T, cpu>& x) {
  return cpu_detail::reduce_last(x, [](const T* p, std::int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<float>(p[i]));
    return m;
  });
}
// [..., C] -> [C]: column sums over all leading dimensions.
template <class T>
tensor<T, cpu> sum_rows(const tensor<T, cpu>& x) {
  auto xc = x.contiguous();
  const std::int64_t C = x.size(-1), R = x.numel() / std::max<std::int64_t>(1, C);
  auto out = tensor<T, cpu>::empty({C});
  cpu_detail::parallel_for(C, 256, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double s = 0;
      for (std::int64_t r = 0; r < R; ++r) s += static_cast<float>(xc.data()[r * C + c]);
      out.data()[c] = convert<T>(static_cast<float>(s));
    }
  });
  return out;
}
template <class T>
double sum_all(const tensor<T, cpu>& x) {
  auto xc = x.contiguous();
  double s = 0;
  for (std::int64_t i = 0; i < xc.numel(); ++i) s += static_cast<float>(xc.data()[i]);
  return s;
}

}  // namespace vlm
