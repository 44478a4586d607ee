// Cross-entropy over rows of logits with ignore_index -100, as torch's F.cross_entropy
// (f32 log-sum-exp). The loss is sum over labelled rows / divisor, where divisor defaults to
// the number of labelled rows (reduction='mean'); trainers pass num_items_in_batch instead.
//   logits [N, V], labels [N] (int64), returns {loss, labelled rows}.
// Backward: dlogits[n] = (softmax(logits[n]) - onehot(label)) * dloss / divisor, 0 if ignored.
#pragma once
#include <cmath>
#include <limits>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

inline constexpr std::int64_t ignore_index = -100;

struct cross_entropy_result {
  double loss = 0;
  std::int64_t count = 0;  // labelled rows
};

namespace cpu_detail {
template <class T>
double row_logsumexp(const T* x, std::int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t v = 0; v < V; ++v) m = std::max(m, static_cast<float>(x[v]));
  double s = 0;
  for (std::int64_t v = 0; v < V; ++v) s += std::exp(static_cast<double>(static_cast<float>(x[v]) - m));
  return m + std::log(s);
}
}  // namespace cpu_detail

template <class T>
cross_entropy_result cross_entropy(const tensor<T, cpu>& logits, const tensor<std::int64_t, cpu>& labels,
                                   double divisor = -1) {
  const std::int64_t V = logits.size(-1), N = logits.numel() / V;
  VLM_CHECK_AS(shape_error, labels.numel() == N, "cross_entropy: ", N, " logit rows but ", labels.numel(), " labels");
  auto lc = logits.contiguous();
  auto yc = labels.contiguous();
  std::vector<double> row_loss(static_cast<std::size_t>(N), 0.0);
  cpu_detail::parallel_for(N, 4, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t n = r0; n < r1; ++n) {
      std::int64_t y = yc.data()[n];
      if (y == ignore_index) continue;
      VLM_CHECK_AS(shape_error, y >= 0 && y < V, "label ", y, " at row ", n, " is outside [0, ", V, ")");
      const T* x = lc.data() + n * V;
      row_loss[static_cast<std::size_t>(n)] = cpu_detail::row_logsumexp(x, V) - static_cast<float>(x[y]);
    }
  });
  cross_entropy_result r;
  double total = 0;
  for (std::int64_t n = 0; n < N; ++n)
    if (yc.data()[n] != ignore_index) {
      total += row_loss[static_cast<std::size_t>(n)];
      ++r.count;
    }
  double div = divisor > 0 ? divisor : static_cast<double>(r.count);
  r.loss = div > 0 ? total / div : 0.0;
  return r;
}

template <class T>
tensor<T, cpu> cross_entropy_backward(const tensor<T, cpu>& logits, const tensor<std::int64_t, cpu>& labels,
                                      double divisor, float dloss) {
  const std::int64_t V = logits.size(-1), N = logits.numel() / V;
  auto lc = logits.contiguous();
  auto yc = labels.contiguous();
  auto d = tensor<T, cpu>::zeros(logits.shape());
  const float k = static_cast<float>(dloss / divisor);
  cpu_detail::parallel_for(N, 4, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t n = r0; n < r1; ++n) {
      std::int64_t y = yc.data()[n];
      if (y == ignore_index) continue;
      const T* x = lc.data() + n * V;
      double lse = cpu_detail::row_logsumexp(x, V);
      T* g = d.data() + n * V;
      for (std::int64_t v = 0; v < V; ++v)
        g[v] = convert<T>(k * static_cast<float>(std::exp(static_cast<double>(static_cast<float>(x[v])) - lse) - (v == y ? 1.0 : 0.0)));
    }
  });
  return d;
}

}  // namespace vlm
