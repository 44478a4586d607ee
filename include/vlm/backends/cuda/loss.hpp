// Cross-entropy on vlm::cuda, same semantics as backends/cpu/loss.hpp (ignore_index -100,
// divisor defaults to the number of labelled rows, f32 max + f64 sum log-sum-exp):
//   cross_entropy(logits [N, V], labels [N] int64, divisor = -1) -> {loss, count} (host values;
//     synchronises: labels are checked on the host, row losses summed there in f64)
//   cross_entropy_backward(logits, labels, divisor, dloss) -> dlogits
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <limits>
#include <vector>

#include "vlm/backends/cpu/loss.hpp"  // cross_entropy_result, ignore_index
#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/cross_entropy.cuh"

namespace vlm {

namespace cuda_detail {
// Labels on the host, each checked to be ignore_index or in [0, V).
inline std::vector<std::int64_t> checked_labels(const tensor<std::int64_t, cuda>& labels, std::int64_t V,
                                                cudaStream_t s) {
  std::vector<std::int64_t> host(static_cast<std::size_t>(labels.numel()));
  if (host.empty()) return host;
  VLM_CUDA_CHECK(cudaMemcpyAsync(host.data(), labels.data(), host.size() * sizeof(std::int64_t),
                                 cudaMemcpyDeviceToHost, s));
  VLM_CUDA_CHECK(cudaStreamSynchronize(s));
  for (std::size_t n = 0; n < host.size(); ++n) {
    const std::int64_t y = host[n];
    VLM_CHECK_AS(shape_error, y == ignore_index || (y >= 0 && y < V), "label ", y, " at row ", n,
                 " is outside [0, ", V, ")");
  }
  return host;
}
}  // namespace cuda_detail

template <class T>
cross_entropy_result cross_entropy(const tensor<T, cuda>& logits, const tensor<std::int64_t, cuda>& labels,
                                   double divisor = -1, cudaStream_t s = 0) {
  const std::int64_t V = logits.size(-1), N = V > 0 ? logits.numel() / V : 0;
  VLM_CHECK_AS(shape_error, labels.numel() == N, "cross_entropy: ", N, " logit rows but ", labels.numel(), " labels");
  VLM_CHECK_AS(shape_error, N <= std::numeric_limits<int>::max(), "cross_entropy: too many rows (", N, ")");
  auto lc = logits.contiguous();
  auto yc = labels.contiguous();
  const auto host_labels = cuda_detail::checked_labels(yc, V, s);
  cross_entropy_result r;
  if (N == 0) return r;
  auto row_loss = tensor<double, cuda>::empty({N});
  cuda_detail::cross_entropy_kernel<<<static_cast<unsigned>(N), cuda_detail::row_block(V), 0, s>>>(
      row_loss.data(), lc.data(), yc.data(), V, ignore_index);
  VLM_CUDA_LAUNCHED("cross_entropy_kernel");
  std::vector<double> losses(static_cast<std::size_t>(N));
  VLM_CUDA_CHECK(cudaMemcpyAsync(losses.data(), row_loss.data(), losses.size() * sizeof(double),
                                 cudaMemcpyDeviceToHost, s));
  VLM_CUDA_CHECK(cudaStreamSynchronize(s));
  double total = 0;
  for (std::size_t n = 0; n < losses.size(); ++n)
    if (host_labels[n] != ignore_index) {
      total += losses[n];
      ++r.count;
    }
  const double div = divisor > 0 ? divisor : static_cast<double>(r.count);
  r.loss = div > 0 ? total / div : 0.0;
  return r;
}

template <class T>
tensor<T, cuda> cross_entropy_backward(const tensor<T, cuda>& logits, const tensor<std::int64_t, cuda>& labels,
                                       double divisor, float dloss, cudaStream_t s = 0) {
  const std::int64_t V = logits.size(-1), N = V > 0 ? logits.numel() / V : 0;
  VLM_CHECK_AS(shape_error, labels.numel() == N, "cross_entropy_backward: ", N, " logit rows but ", labels.numel(),
               " labels");
  auto lc = logits.contiguous();
  auto yc = labels.contiguous();
  auto d = tensor<T, cuda>::empty(logits.shape());
  if (N == 0) return d;
  const float k = static_cast<float>(dloss / divisor);
  cuda_detail::cross_entropy_backward_kernel<<<static_cast<unsigned>(N), cuda_detail::row_block(V), 0, s>>>(
      d.data(), lc.data(), yc.data(), V, ignore_index, k);
  VLM_CUDA_LAUNCHED("cross_entropy_backward_kernel");
  return d;
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
