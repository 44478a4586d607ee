// copy_into for vlm::cuda: dst <- src, same shape, any strides on either side (tensor.hpp's
// clone()/contiguous() call it unqualified). Contiguous pairs are one cudaMemcpyAsync.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include "vlm/backends/cuda/check.hpp"
#include "vlm/backends/cuda/kernels/copy.cuh"
#include "vlm/core/tensor.hpp"

namespace vlm {

namespace cuda_detail {
// Meta for iterating x's index space with strides of a (s0) and b (s1); size-1 dims dropped.
template <class A, class B>
strided_meta pair_meta(const A& a, const B& b) {
  strided_meta m;
  for (int i = 0; i < a.dim(); ++i) {
    if (a.size(i) == 1) continue;
    m.size[m.rank] = a.size(i);
    m.s0[m.rank] = a.stride(i);
    m.s1[m.rank] = b.stride(i);
    ++m.rank;
  }
  return m;
}
}  // namespace cuda_detail

// requires: dst.shape() == src.shape(); dst does not overlap src.
template <class T>
void copy_into(tensor<T, cuda>& dst, const tensor<T, cuda>& src, cudaStream_t stream = 0) {
  VLM_CHECK_AS(shape_error, dst.shape() == src.shape(), "copy ", src.shape().str(), " into ", dst.shape().str());
  const std::int64_t n = src.numel();
  if (n == 0) return;
  if (src.is_contiguous() && dst.is_contiguous()) {
    VLM_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(n) * sizeof(T),
                                   cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const auto m = cuda_detail::pair_meta(dst, src);
  cuda_detail::strided_copy_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, stream>>>(dst.data(), src.data(), n, m);
  VLM_CUDA_LAUNCHED("strided_copy_kernel");
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
