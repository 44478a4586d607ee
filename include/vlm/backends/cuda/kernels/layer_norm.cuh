// LayerNorm forward and backward kernels (one block per row): y = (x - mean) rsqrt(var + eps) w + b
// with the biased variance, as torch. Backward with n = (x - mean) r, g = dy w:
//   dx = r (g - mean(g) - n mean(g n));  dw += sum_rows(dy n);  db += sum_rows(dy).
// The row kernels save mean and r per row for the column reductions.
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

// Two-pass mean / variance of one row (same order of operations as the CPU reference).
template <class T>
__device__ void row_moments(const T* px, std::int64_t C, float eps, float& mean, float& inv) {
  float s = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) s += ld(px, i);
  mean = block_reduce(s, sum_op{}, 0.f) / static_cast<float>(C);
  float v = 0.f;
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float d = ld(px, i) - mean;
    v += d * d;
  }
  v = block_reduce(v, sum_op{}, 0.f);
  inv = 1.f / sqrtf(v / static_cast<float>(C) + eps);
}

template <class T>
__global__ void layer_norm_kernel(T* y, const T* x, const T* w, const T* b, std::int64_t C, float eps) {
  const std::int64_t off = blockIdx.x * C;
  float mean, inv;
  row_moments(x + off, C, eps, mean, inv);
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    float v = (ld(x, off + i) - mean) * inv * ld(w, i);
    if (b) v += ld(b, i);
    st(y, off + i, v);
  }
}

template <class T>
__global__ void layer_norm_backward_kernel(T* dx, float* mean_out, float* inv_out, const T* x, const T* w,
                                           const T* dy, std::int64_t C, float eps) {
  const std::int64_t off = blockIdx.x * C;
  float mean, inv;
  row_moments(x + off, C, eps, mean, inv);
  float mg = 0.f, mgn = 0.f;
  // __fmul_rn: no FMA contraction of g into (g - mg), so g - mg is exactly 0 when C = 1.
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float g = __fmul_rn(ld(dy, off + i), ld(w, i)), n = (ld(x, off + i) - mean) * inv;
    mg += g;
    mgn += g * n;
  }
  mg = block_reduce(mg, sum_op{}, 0.f) / static_cast<float>(C);
  mgn = block_reduce(mgn, sum_op{}, 0.f) / static_cast<float>(C);
  for (std::int64_t i = threadIdx.x; i < C; i += blockDim.x) {
    const float g = __fmul_rn(ld(dy, off + i), ld(w, i)), n = (ld(x, off + i) - mean) * inv;
    st(dx, off + i, inv * (g - mg - n * mgn));
  }
  if (threadIdx.x == 0) {
    mean_out[blockIdx.x] = mean;
    inv_out[blockIdx.x] = inv;
  }
}

// dw[c] += sum_r dy n   (or db[c] += sum_r dy when `bias`)
template <class T>
struct layer_norm_param_fn {
  const T* x;
  const T* dy;
  const float* mean;
  const float* inv;
  T* out;
  std::int64_t C;
  bool bias;
  __device__ double term(std::int64_t r, std::int64_t c) const {
    const float g = ld(dy, r * C + c);
    return bias ? static_cast<double>(g) : static_cast<double>(g) * ((ld(x, r * C + c) - mean[r]) * inv[r]);
  }
  __device__ void finish(std::int64_t c, double s) const { st(out, c, ld(out, c) + static_cast<float>(s)); }
};

}  // namespace vlm::cuda_detail
