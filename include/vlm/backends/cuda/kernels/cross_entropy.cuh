// Cross-entropy kernels, one block per row of logits [N, V] (labels int64, ignore_index rows
// skipped). Forward writes each row's loss lse - x[label] (f64; 0 for ignored rows); the
// host sums them. Backward: d[n, v] = k (softmax(x)[v] - [v == label]), 0 for ignored rows.
#pragma once
#include <math_constants.h>

#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

// log-sum-exp of one row: f32 max, f32 exp, f64 sum (the CPU reference sums in f64 too).
template <class T>
__device__ double row_lse(const T* x, std::int64_t V) {
  float m = -CUDART_INF_F;
  for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, ld(x, v));
  m = block_reduce(m, max_op{}, -CUDART_INF_F);
  double s = 0;
  for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) s += static_cast<double>(expf(ld(x, v) - m));
  s = block_reduce(s, sum_op{}, 0.0);
  return static_cast<double>(m) + log(s);
}

template <class T>
__global__ void cross_entropy_kernel(double* row_loss, const T* logits, const std::int64_t* labels, std::int64_t V,
                                     std::int64_t ignore) {
  const std::int64_t n = blockIdx.x, y = labels[n];
  if (y == ignore) {
    if (threadIdx.x == 0) row_loss[n] = 0;
    return;
  }
  const T* x = logits + n * V;
  const double lse = row_lse(x, V);
  if (threadIdx.x == 0) row_loss[n] = lse - static_cast<double>(ld(x, y));
}

template <class T>
__global__ void cross_entropy_backward_kernel(T* d, const T* logits, const std::int64_t* labels, std::int64_t V,
                                              std::int64_t ignore, float k) {
  const std::int64_t n = blockIdx.x, y = labels[n];
  T* g = d + n * V;
  if (y == ignore) {
    for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) st(g, v, 0.f);
    return;
  }
  const T* x = logits + n * V;
  const float lse = static_cast<float>(row_lse(x, V));
  for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x)
    st(g, v, k * (expf(ld(x, v) - lse) - (v == y ? 1.f : 0.f)));
}

}  // namespace vlm::cuda_detail
