// What the vlm::cuda op headers declare in a TU that cannot run kernels (no VLM_WITH_CUDA, or
// not compiled by nvcc): every op name exists for tensor<T, cuda>, and calling one fails at
// compile time with one sentence instead of "no matching function". Generic code that merely
// mentions vlm::cuda keeps compiling (cf. MLX's backend/no_gpu, at compile time here).
// copy_into is the exception when VLM_WITH_CUDA is set: a g++ TU linking vlm::cuda may move and
// reshape tensors (to_backend, contiguous, to_vector), so it gets a host-staged strided copy.
#pragma once
#include <vector>

#include "vlm/backends/backend.hpp"
#include "vlm/backends/cpu/attention.hpp"  // attention_mask
#include "vlm/backends/cpu/loss.hpp"       // cross_entropy_result
#include "vlm/core/config.hpp"
#include "vlm/core/tensor.hpp"

#if !VLM_CUDA_KERNELS
namespace vlm {

#define VLM_CUDA_UNAVAILABLE_MSG \
  "vlm::cuda ops need VLM_CUDA=ON (link vlm::cuda) and a TU compiled by nvcc (a .cu file or LANGUAGE CUDA)"

#define VLM_CUDA_UNAVAILABLE_OP(name)                          \
  template <class T, class... Args>                            \
  auto name(const tensor<T, cuda>&, Args&&...) {               \
    static_assert(dependent_false_v<T>, VLM_CUDA_UNAVAILABLE_MSG); \
    return tensor<T, cuda>{};                                  \
  }

VLM_CUDA_UNAVAILABLE_OP(gemm_into)
VLM_CUDA_UNAVAILABLE_OP(matmul)
VLM_CUDA_UNAVAILABLE_OP(linear)
VLM_CUDA_UNAVAILABLE_OP(add)
VLM_CUDA_UNAVAILABLE_OP(sub)
VLM_CUDA_UNAVAILABLE_OP(mul)
VLM_CUDA_UNAVAILABLE_OP(div)
VLM_CUDA_UNAVAILABLE_OP(add_)
VLM_CUDA_UNAVAILABLE_OP(scale)
VLM_CUDA_UNAVAILABLE_OP(silu)
VLM_CUDA_UNAVAILABLE_OP(gelu_erf)
VLM_CUDA_UNAVAILABLE_OP(gelu_tanh)
VLM_CUDA_UNAVAILABLE_OP(silu_backward)
VLM_CUDA_UNAVAILABLE_OP(gelu_erf_backward)
VLM_CUDA_UNAVAILABLE_OP(gelu_tanh_backward)
VLM_CUDA_UNAVAILABLE_OP(silu_mul)
VLM_CUDA_UNAVAILABLE_OP(silu_mul_backward)
VLM_CUDA_UNAVAILABLE_OP(sum_last)
VLM_CUDA_UNAVAILABLE_OP(mean_last)
VLM_CUDA_UNAVAILABLE_OP(max_last)
VLM_CUDA_UNAVAILABLE_OP(sum_rows)
VLM_CUDA_UNAVAILABLE_OP(sum_all)
VLM_CUDA_UNAVAILABLE_OP(softmax)
VLM_CUDA_UNAVAILABLE_OP(log_softmax)
VLM_CUDA_UNAVAILABLE_OP(softmax_backward)
VLM_CUDA_UNAVAILABLE_OP(rms_norm)
VLM_CUDA_UNAVAILABLE_OP(rms_norm_backward)
VLM_CUDA_UNAVAILABLE_OP(layer_norm)
VLM_CUDA_UNAVAILABLE_OP(layer_norm_backward)
VLM_CUDA_UNAVAILABLE_OP(apply_rotary)
VLM_CUDA_UNAVAILABLE_OP(apply_rotary_backward)
VLM_CUDA_UNAVAILABLE_OP(embedding)
VLM_CUDA_UNAVAILABLE_OP(embedding_backward)
VLM_CUDA_UNAVAILABLE_OP(cross_entropy)
VLM_CUDA_UNAVAILABLE_OP(cross_entropy_backward)
VLM_CUDA_UNAVAILABLE_OP(attention)
VLM_CUDA_UNAVAILABLE_OP(attention_backward)
#undef VLM_CUDA_UNAVAILABLE_OP

template <class To, class From, class... Args>
auto cast(const tensor<From, cuda>&, Args&&...) {
  static_assert(dependent_false_v<From>, VLM_CUDA_UNAVAILABLE_MSG);
  return tensor<To, cuda>{};
}

#if defined(VLM_WITH_CUDA)
// Host-staged strided copy: download the span each side covers, scatter on the host, upload.
// Slow, but lets host-only TUs call contiguous()/to_vector() on device views.
template <class T>
void copy_into(tensor<T, cuda>& dst, const tensor<T, cuda>& src) {
  VLM_CHECK_AS(shape_error, dst.shape() == src.shape(), "copy ", src.shape().str(), " into ", dst.shape().str());
  const std::int64_t n = src.numel();
  if (n == 0) return;
  if (src.is_contiguous() && dst.is_contiguous()) {
    backend_memory<cuda>::copy(dst.data(), src.data(), static_cast<std::size_t>(n) * sizeof(T));
    return;
  }
  auto extent = [](const tensor<T, cuda>& t) {
    std::int64_t e = 1;
    for (int i = 0; i < t.dim(); ++i) e += (t.size(i) - 1) * t.stride(i);
    return e;
  };
  std::vector<T> hs(static_cast<std::size_t>(extent(src))), hd(static_cast<std::size_t>(extent(dst)));
  backend_memory<cuda>::copy_to_host(hs.data(), src.data(), hs.size() * sizeof(T));
  backend_memory<cuda>::copy_to_host(hd.data(), dst.data(), hd.size() * sizeof(T));
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t rem = i, os = 0, od = 0;
    for (int k = src.dim() - 1; k >= 0; --k) {
      const std::int64_t idx = rem % src.size(k);
      rem /= src.size(k);
      os += idx * src.stride(k);
      od += idx * dst.stride(k);
    }
    hd[static_cast<std::size_t>(od)] = hs[static_cast<std::size_t>(os)];
  }
  backend_memory<cuda>::copy_from_host(dst.data(), hd.data(), hd.size() * sizeof(T));
}
#else
template <class T>
void copy_into(tensor<T, cuda>&, const tensor<T, cuda>&) {
  static_assert(dependent_false_v<T>, VLM_CUDA_UNAVAILABLE_MSG);
}
#endif

}  // namespace vlm
#endif
