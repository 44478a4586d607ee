// RMSNorm forward and backward kernels (one block per row), matching transformers'
// Qwen2RMSNorm: statistics in f32; the normalised value is rounded to T before the multiply
// by the weight. Backward, with r = rsqrt(mean(x^2) + eps), n = x r, g = dy w:
//   dx = r (g - n mean(g n))   (written: activation gradients are produced, not accumulated)
//   dw += sum_rows(dy n)       (accumulated: parameter gradients add up over micro-batches)
// The backward row kernel saves r per row for the dw column reduction.
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

template <class T>
__global__ void rms_norm_kernel(T* y, const T* x, const T* w, std::int64_t C, float eps) {
  const std::int64_t off = blockIdx.x * C;
  float ss = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float v = ld(x, off + i);
    ss += v * v;
  }
  ss = block_reduce(ss, sum_op{}, 0.f);
  const float inv = 1.f / sqrtf(ss / static_cast<float>(C) + eps);
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float n = static_cast<float>(convert<T>(ld(x, off + i) * inv));
    st(y, off + i, ld(w, i) * n);
  }
}

template <class T>
__global__ void rms_norm_backward_kernel(T* dx, float* inv_out, const T* x, const T* w, const T* dy,
                                         std::int64_t C, float eps) {
  const std::int64_t off = blockIdx.x * C;
  float ss = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float v = ld(x, off + i);
    ss += v * v;
  }
  ss = block_reduce(ss, sum_op{}, 0.f);
  const float r = 1.f / sqrtf(ss / static_cast<float>(C) + eps);
  float dot = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) dot += ld(dy, off + i) * ld(w, i) * ld(x, off + i) * r;
  dot = block_reduce(dot, sum_op{}, 0.f) / static_cast<float>(C);
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float g = ld(dy, off + i) * ld(w, i), n = ld(x, off + i) * r;
    st(dx, off + i, r * (g - n * dot));
  }
  if (threadIdx.x == 0) inv_out[blockIdx.x] = r;
}

// dw[c] += sum_r dy[r, c] * x[r, c] * inv[r]
template <class T>
struct rms_norm_dw_fn {
  const T* x;
  const T* dy;
  const float* inv;
  T* dw;
  std::int64_t C;
  __device__ double term(std::int64_t r, std::int64_t c) const {
    return static_cast<double>(ld(dy, r * C + c) * ld(x, r * C + c) * inv[r]);
  }
  __device__ void finish(std::int64_t c, double s) const { st(dw, c, ld(dw, c) + static_cast<float>(s)); }
};

}  // namespace vlm::cuda_detail
