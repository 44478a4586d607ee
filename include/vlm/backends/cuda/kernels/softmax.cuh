// Row softmax kernels, one block per row of C (any C: rows are streamed, not held in registers).
//   softmax:      y = exp(x - max) / sum; a row whose max is -inf (fully masked) gives zeros.
//   log_softmax:  y = x - (max + log(sum exp(x - max)))
//   backward:     dx = y * (dy - sum(dy * y))   (may run in place: dx == dy)
#pragma once
#include <math_constants.h>

#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

template <class T>
__global__ void softmax_kernel(T* y, const T* x, std::int64_t C, bool log_space) {
  const T* px = x + blockIdx.x * C;
  T* py = y + blockIdx.x * C;
  float m = -CUDART_INF_F;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) m = fmaxf(m, ld(px, i));
  m = block_reduce(m, max_op{}, -CUDART_INF_F);
  if (m == -CUDART_INF_F && !log_space) {
    for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) st(py, i, 0.f);
    return;
  }
  float s = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) s += expf(ld(px, i) - m);
  s = block_reduce(s, sum_op{}, 0.f);
  if (log_space) {
    const float lse = m + logf(s);
    for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) st(py, i, ld(px, i) - lse);
  } else {
    const float inv = 1.f / s;
    for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) st(py, i, expf(ld(px, i) - m) * inv);
  }
}

template <class T>
__global__ void softmax_backward_kernel(T* dx, const T* y, const T* dy, std::int64_t C) {
  const std::int64_t off = blockIdx.x * C;
  float dot = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) dot += ld(y, off + i) * ld(dy, off + i);
  dot = block_reduce(dot, sum_op{}, 0.f);
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) st(dx, off + i, ld(y, off + i) * (ld(dy, off + i) - dot));
}

}  // namespace vlm::cuda_detail
