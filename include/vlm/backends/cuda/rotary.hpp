// Rotary position embedding on vlm::cuda, NeoX layout, same semantics as backends/cpu/rotary.hpp:
//   apply_rotary(x [..., H, D], cos [N, D], sin [N, D]) with N = numel / (H D); cos/sin f32.
//   apply_rotary_backward(dy, cos, sin): rotation by -angle (exact for rope tables whose
//   halves repeat, which all of vlm's are).
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/rotary.cuh"

namespace vlm {

namespace cuda_detail {
template <class T>
tensor<T, cuda> rotary_impl(const tensor<T, cuda>& x, const tensor<float, cuda>& cos, const tensor<float, cuda>& sin,
                            bool inverse, cudaStream_t s) {
  VLM_CHECK_AS(shape_error, x.dim() >= 2, "rotary: x ", x.shape().str(), " needs [..., H, D]");
  const std::int64_t D = x.size(-1), H = x.size(-2), N = H * D > 0 ? x.numel() / (H * D) : 0;
  VLM_CHECK_AS(shape_error, D % 2 == 0 && cos.numel() == N * D && sin.numel() == N * D, "rotary: x ",
               x.shape().str(), " needs cos/sin with ", N, " rows of ", D, ", got ", cos.shape().str());
  auto xc = x.contiguous();
  auto cc = cos.contiguous(), sc = sin.contiguous();
  auto y = tensor<T, cuda>::empty(x.shape());
  const std::int64_t pairs = N * H * (D / 2);
  if (pairs == 0) return y;
  rotary_kernel<<<grid_for(pairs, 256), 256, 0, s>>>(y.data(), xc.data(), cc.data(), sc.data(), N, H, D,
                                                     inverse ? -1.f : 1.f);
  VLM_CUDA_LAUNCHED("rotary_kernel");
  return y;
}
}  // namespace cuda_detail

template <class T>
tensor<T, cuda> apply_rotary(const tensor<T, cuda>& x, const tensor<float, cuda>& cos, const tensor<float, cuda>& sin,
                             cudaStream_t s = 0) {
  return cuda_detail::rotary_impl(x, cos, sin, false, s);
}
template <class T>
tensor<T, cuda> apply_rotary_backward(const tensor<T, cuda>& dy, const tensor<float, cuda>& cos,
                                      const tensor<float, cuda>& sin, cudaStream_t s = 0) {
  return cuda_detail::rotary_impl(dy, cos, sin, true, s);
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
