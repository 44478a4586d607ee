// Column reductions over [R, C] row-major data: out[c] = finish(c, sum_r term(r, c)), summed in
// double. Threads of a warp take adjacent columns (coalesced reads); blockDim.y threads split
// the rows and meet in shared memory. Used by sum_rows and the norm weight/bias gradients.
// Also the small "finish" kernel that turns f32 row reductions into T.
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

inline constexpr int colred_x = 32, colred_y = 16;

// F: __device__ double term(int64 r, int64 c) const; __device__ void finish(int64 c, double s) const.
template <class F>
__global__ void column_reduce_kernel(std::int64_t R, std::int64_t C, F f) {
  __shared__ double sh[colred_y][colred_x + 1];
  const std::int64_t c = blockIdx.x * std::int64_t(colred_x) + threadIdx.x;
  double acc = 0;
  if (c < C)
    for (std::int64_t r = threadIdx.y; r < R; r += colred_y) acc += f.term(r, c);
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    double s = 0;
    for (int y = 0; y < colred_y; ++y) s += sh[y][threadIdx.x];
    f.finish(c, s);
  }
}

template <class F>
void column_reduce(std::int64_t R, std::int64_t C, F f, cudaStream_t s) {
  if (C == 0) return;
  const dim3 block(colred_x, colred_y);
  const unsigned grid = static_cast<unsigned>((C + colred_x - 1) / colred_x);
  column_reduce_kernel<<<grid, block, 0, s>>>(R, C, f);
}

// sum_rows: out[c] = sum_r x[r, c].
template <class T>
struct sum_rows_fn {
  const T* x;
  T* out;
  std::int64_t C;
  __device__ double term(std::int64_t r, std::int64_t c) const { return static_cast<double>(ld(x, r * C + c)); }
  __device__ void finish(std::int64_t c, double s) const { st(out, c, static_cast<float>(s)); }
};

// out[i] = T(in[i] * mul): f32 segment results -> T (mean divides by C).
template <class T>
__global__ void finish_kernel(T* out, const float* in, std::int64_t n, float mul) {
  VLM_GRID_STRIDE(i, n) st(out, i, in[i] * mul);
}

template <class T>
struct to_float_fn {
  __host__ __device__ float operator()(const T& x) const { return static_cast<float>(x); }
};
template <class T>
struct to_double_fn {
  __host__ __device__ double operator()(const T& x) const { return static_cast<double>(static_cast<float>(x)); }
};
struct times_fn {
  std::int64_t k;
  __host__ __device__ std::int64_t operator()(std::int64_t i) const { return i * k; }
};

}  // namespace vlm::cuda_detail
