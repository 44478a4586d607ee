// Embedding lookup and its backward on vlm::cuda, same semantics as backends/cpu/embedding.hpp:
//   embedding(weight [V, C], ids [...] int32/int64) -> [..., C]
//   embedding_backward(dy [..., C], ids, d_weight [V, C] contiguous): d_weight[ids[n]] += dy[n]
// Ids are copied to the host and checked against V first (a bad id throws shape_error naming
// its position, as on the CPU); that copy synchronises the stream.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <vector>

#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/embedding.cuh"

namespace vlm {

namespace cuda_detail {
template <class I>
void check_ids(const tensor<I, cuda>& ids, std::int64_t V, cudaStream_t s) {
  std::vector<I> host(static_cast<std::size_t>(ids.numel()));
  if (host.empty()) return;
  VLM_CUDA_CHECK(cudaMemcpyAsync(host.data(), ids.data(), host.size() * sizeof(I), cudaMemcpyDeviceToHost, s));
  VLM_CUDA_CHECK(cudaStreamSynchronize(s));
  for (std::size_t n = 0; n < host.size(); ++n) {
    const auto id = static_cast<std::int64_t>(host[n]);
    VLM_CHECK_AS(shape_error, id >= 0 && id < V, "token id ", id, " at position ", n,
                 " is outside the vocabulary [0, ", V, ")");
  }
}
}  // namespace cuda_detail

template <class T, class I>
tensor<T, cuda> embedding(const tensor<T, cuda>& weight, const tensor<I, cuda>& ids, cudaStream_t s = 0) {
  static_assert(std::is_same_v<I, std::int32_t> || std::is_same_v<I, std::int64_t>, "ids must be int32 or int64");
  VLM_CHECK_AS(shape_error, weight.dim() == 2, "embedding: weight ", weight.shape().str(), " must be [V, C]");
  const std::int64_t V = weight.size(0), C = weight.size(1);
  auto w = weight.contiguous();
  auto ic = ids.contiguous();
  cuda_detail::check_ids(ic, V, s);
  vlm::shape out_shape = ids.shape();
  out_shape.push_back(C);
  auto out = tensor<T, cuda>::empty(out_shape);
  const std::int64_t n = ic.numel() * C;
  if (n == 0) return out;
  cuda_detail::embedding_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, s>>>(out.data(), w.data(), ic.data(),
                                                                             ic.numel(), C);
  VLM_CUDA_LAUNCHED("embedding_kernel");
  return out;
}

// d_weight[ids[n]] += dy[n] for every n (repeated ids accumulate, atomically).
template <class T, class I>
void embedding_backward(const tensor<T, cuda>& dy, const tensor<I, cuda>& ids, tensor<T, cuda>& d_weight,
                        cudaStream_t s = 0) {
  static_assert(std::is_same_v<I, std::int32_t> || std::is_same_v<I, std::int64_t>, "ids must be int32 or int64");
  VLM_CHECK_AS(shape_error, d_weight.dim() == 2 && d_weight.is_contiguous(), "embedding_backward: d_weight ",
               d_weight.shape().str(), " must be a contiguous [V, C]");
  const std::int64_t V = d_weight.size(0), C = d_weight.size(1);
  VLM_CHECK_AS(shape_error, dy.numel() == ids.numel() * C, "embedding_backward: dy ", dy.shape().str(), " for ",
               ids.numel(), " ids of width ", C);
  auto g = dy.contiguous();
  auto ic = ids.contiguous();
  cuda_detail::check_ids(ic, V, s);
  const std::int64_t n = ic.numel() * C;
  if (n == 0) return;
  cuda_detail::embedding_backward_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, s>>>(d_weight.data(), g.data(),
                                                                                      ic.data(), ic.numel(), C);
  VLM_CUDA_LAUNCHED("embedding_backward_kernel");
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
