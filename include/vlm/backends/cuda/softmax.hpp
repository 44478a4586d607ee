// Softmax over the last dimension on vlm::cuda (f32 arithmetic, max-subtracted), log_softmax,
// and softmax_backward dx = y * (dy - sum(dy * y)); same semantics as backends/cpu/softmax.hpp.
// One block per row; inputs of any strides (made contiguous first).
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <limits>

#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/softmax.cuh"

namespace vlm {

namespace cuda_detail {
template <class T>
tensor<T, cuda> softmax_impl(const tensor<T, cuda>& x, bool log_space, cudaStream_t s) {
  auto xc = x.contiguous();
  auto y = tensor<T, cuda>::empty(x.shape());
  const std::int64_t C = x.size(-1), R = C > 0 ? x.numel() / C : 0;
  if (R == 0) return y;
  VLM_CHECK_AS(shape_error, R <= std::numeric_limits<int>::max(), "softmax: too many rows (", R, ")");
  softmax_kernel<<<static_cast<unsigned>(R), row_block(C), 0, s>>>(y.data(), xc.data(), C, log_space);
  VLM_CUDA_LAUNCHED("softmax_kernel");
  return y;
}
}  // namespace cuda_detail

template <class T>
tensor<T, cuda> softmax(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  return cuda_detail::softmax_impl(x, false, s);
}
template <class T>
tensor<T, cuda> log_softmax(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  return cuda_detail::softmax_impl(x, true, s);
}

// Given y = softmax(x) and dy, returns dx.
template <class T>
tensor<T, cuda> softmax_backward(const tensor<T, cuda>& y, const tensor<T, cuda>& dy, cudaStream_t s = 0) {
  VLM_CHECK_AS(shape_error, y.shape() == dy.shape(), "softmax_backward: y ", y.shape().str(), " vs dy ",
               dy.shape().str());
  auto yc = y.contiguous(), gc = dy.contiguous();
  auto dx = tensor<T, cuda>::empty(y.shape());
  const std::int64_t C = y.size(-1), R = C > 0 ? y.numel() / C : 0;
  if (R == 0) return dx;
  cuda_detail::softmax_backward_kernel<<<static_cast<unsigned>(R), cuda_detail::row_block(C), 0, s>>>(
      dx.data(), yc.data(), gc.data(), C);
  VLM_CUDA_LAUNCHED("softmax_backward_kernel");
  return dx;
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
