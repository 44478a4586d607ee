// RMSNorm and LayerNorm over the last dimension on vlm::cuda, with their backwards; same
// names and semantics as backends/cpu/norm.hpp (Qwen2RMSNorm rounding, f32 statistics).
//   rms_norm(x [..., C], w [C], eps)                       -> y
//   rms_norm_backward(x, w, eps, dy, dw*)                  -> dx; dw (if non-null) += grad
//   layer_norm(x, w, b (may be undefined), eps)            -> y
//   layer_norm_backward(x, w, eps, dy, dw*, db*)           -> dx; dw, db accumulated into
// Row kernels (one block per row) plus f64 column reductions for the parameter gradients.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <limits>

#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/layer_norm.cuh"
#include "vlm/backends/cuda/kernels/reduce.cuh"
#include "vlm/backends/cuda/kernels/rms_norm.cuh"

namespace vlm {

namespace cuda_detail {
template <class T>
std::int64_t norm_rows(const tensor<T, cuda>& x, const tensor<T, cuda>& w, const char* op) {
  const std::int64_t C = x.size(-1);
  VLM_CHECK_AS(shape_error, w.dim() == 1 && w.size(0) == C, op, ": weight ", w.shape().str(), " for input ",
               x.shape().str());
  const std::int64_t R = C > 0 ? x.numel() / C : 0;
  VLM_CHECK_AS(shape_error, R <= std::numeric_limits<int>::max(), op, ": too many rows (", R, ")");
  return R;
}
}  // namespace cuda_detail

template <class T>
tensor<T, cuda> rms_norm(const tensor<T, cuda>& x, const tensor<T, cuda>& w, float eps, cudaStream_t s = 0) {
  const std::int64_t R = cuda_detail::norm_rows(x, w, "rms_norm"), C = x.size(-1);
  auto xc = x.contiguous(), wc = w.contiguous();
  auto y = tensor<T, cuda>::empty(x.shape());
  if (R == 0) return y;
  cuda_detail::rms_norm_kernel<<<static_cast<unsigned>(R), cuda_detail::row_block(C), 0, s>>>(y.data(), xc.data(),
                                                                                             wc.data(), C, eps);
  VLM_CUDA_LAUNCHED("rms_norm_kernel");
  return y;
}

// dx (returned) and dw (accumulated into, if non-null; contiguous [C]).
template <class T>
tensor<T, cuda> rms_norm_backward(const tensor<T, cuda>& x, const tensor<T, cuda>& w, float eps,
                                  const tensor<T, cuda>& dy, tensor<T, cuda>* dw, cudaStream_t s = 0) {
  const std::int64_t R = cuda_detail::norm_rows(x, w, "rms_norm_backward"), C = x.size(-1);
  VLM_CHECK_AS(shape_error, dy.shape() == x.shape(), "rms_norm_backward: dy ", dy.shape().str(), " for x ",
               x.shape().str());
  VLM_CHECK_AS(shape_error, !dw || (dw->shape() == w.shape() && dw->is_contiguous()),
               "rms_norm_backward: dw must be contiguous ", w.shape().str());
  auto xc = x.contiguous(), wc = w.contiguous(), gc = dy.contiguous();
  auto dx = tensor<T, cuda>::empty(x.shape());
  if (R == 0) return dx;
  auto inv = tensor<float, cuda>::empty({R});
  cuda_detail::rms_norm_backward_kernel<<<static_cast<unsigned>(R), cuda_detail::row_block(C), 0, s>>>(
      dx.data(), inv.data(), xc.data(), wc.data(), gc.data(), C, eps);
  VLM_CUDA_LAUNCHED("rms_norm_backward_kernel");
  if (dw) {
    cuda_detail::column_reduce(R, C, cuda_detail::rms_norm_dw_fn<T>{xc.data(), gc.data(), inv.data(), dw->data(), C},
                               s);
    VLM_CUDA_LAUNCHED("column_reduce_kernel(rms_norm dw)");
  }
  return dx;
}

template <class T>
tensor<T, cuda> layer_norm(const tensor<T, cuda>& x, const tensor<T, cuda>& w, const tensor<T, cuda>& b, float eps,
                           cudaStream_t s = 0) {
  const std::int64_t R = cuda_detail::norm_rows(x, w, "layer_norm"), C = x.size(-1);
  VLM_CHECK_AS(shape_error, !b.defined() || b.shape() == w.shape(), "layer_norm: bias ", b.shape().str(),
               " for weight ", w.shape().str());
  auto xc = x.contiguous(), wc = w.contiguous();
  tensor<T, cuda> bc = b.defined() ? b.contiguous() : b;
  auto y = tensor<T, cuda>::empty(x.shape());
  if (R == 0) return y;
  cuda_detail::layer_norm_kernel<<<static_cast<unsigned>(R), cuda_detail::row_block(C), 0, s>>>(
      y.data(), xc.data(), wc.data(), bc.defined() ? bc.data() : nullptr, C, eps);
  VLM_CUDA_LAUNCHED("layer_norm_kernel");
  return y;
}

// dx returned; dw, db accumulated into when non-null (contiguous [C]).
template <class T>
tensor<T, cuda> layer_norm_backward(const tensor<T, cuda>& x, const tensor<T, cuda>& w, float eps,
                                    const tensor<T, cuda>& dy, tensor<T, cuda>* dw, tensor<T, cuda>* db,
                                    cudaStream_t s = 0) {
  const std::int64_t R = cuda_detail::norm_rows(x, w, "layer_norm_backward"), C = x.size(-1);
  VLM_CHECK_AS(shape_error, dy.shape() == x.shape(), "layer_norm_backward: dy ", dy.shape().str(), " for x ",
               x.shape().str());
  VLM_CHECK_AS(shape_error, (!dw || dw->is_contiguous()) && (!db || db->is_contiguous()),
               "layer_norm_backward: dw/db must be contiguous");
  auto xc = x.contiguous(), wc = w.contiguous(), gc = dy.contiguous();
  auto dx = tensor<T, cuda>::empty(x.shape());
  if (R == 0) return dx;
  auto mean = tensor<float, cuda>::empty({R}), inv = tensor<float, cuda>::empty({R});
  cuda_detail::layer_norm_backward_kernel<<<static_cast<unsigned>(R), cuda_detail::row_block(C), 0, s>>>(
      dx.data(), mean.data(), inv.data(), xc.data(), wc.data(), gc.data(), C, eps);
  VLM_CUDA_LAUNCHED("layer_norm_backward_kernel");
  using fn = cuda_detail::layer_norm_param_fn<T>;
  if (dw) {
    cuda_detail::column_reduce(R, C, fn{xc.data(), gc.data(), mean.data(), inv.data(), dw->data(), C, false}, s);
    VLM_CUDA_LAUNCHED("column_reduce_kernel(layer_norm dw)");
  }
  if (db) {
    cuda_detail::column_reduce(R, C, fn{xc.data(), gc.data(), mean.data(), inv.data(), db->data(), C, true}, s);
    VLM_CUDA_LAUNCHED("column_reduce_kernel(layer_norm db)");
  }
  return dx;
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
