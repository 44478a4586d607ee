// Device helpers shared by the handwritten kernels: f32 load/store of any element type,
// warp/block reductions, launch geometry, and the strided-index metadata passed by value.
// Included only under VLM_CUDA_KERNELS (nvcc + VLM_WITH_CUDA).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "vlm/core/dtype.hpp"
#include "vlm/core/shape.hpp"

// Grid-stride loop over [0, n) with a 64-bit index.
#define VLM_GRID_STRIDE(i, n)                                                              \
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += std::int64_t(gridDim.x) * blockDim.x)

namespace vlm::cuda_detail {

// Grid-stride loops: cap the grid so huge tensors do not need 2^31 blocks.
inline unsigned grid_for(std::int64_t n, int block) {
  std::int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(std::clamp<std::int64_t>(g, 1, 1 << 20));
}
// Threads for one block per row of C elements: a multiple of 32, at most 1024.
inline int row_block(std::int64_t C) {
  std::int64_t t = (C + 31) / 32 * 32;
  return static_cast<int>(std::clamp<std::int64_t>(t, 32, 1024));
}

template <class T>
__device__ __forceinline__ float ld(const T* p, std::int64_t i) {
  return static_cast<float>(p[i]);
}
template <class T>
__device__ __forceinline__ void st(T* p, std::int64_t i, float v) {
  p[i] = convert<T>(v);
}

struct sum_op {
  template <class V> __device__ __forceinline__ V operator()(V a, V b) const { return a + b; }
};
struct max_op {
  template <class V> __device__ __forceinline__ V operator()(V a, V b) const { return a > b ? a : b; }
};

template <class V, class Op>
__device__ __forceinline__ V warp_reduce(V v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduces v over the block (blockDim.x a multiple of 32); every thread gets the result.
// The leading barrier lets the same shared slots be reused by consecutive calls.
template <class V, class Op>
__device__ V block_reduce(V v, Op op, V identity) {
  __shared__ V sh[32];
  v = warp_reduce(v, op);
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  if (wid == 0) {
    V w = lane < nw ? sh[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) sh[0] = w;
  }
  __syncthreads();
  return sh[0];
}

// Extents and up to two stride sets (elements) of a rank <= 8 index space, passed by value.
struct strided_meta {
  int rank = 0;
  std::int64_t size[max_rank] = {};
  std::int64_t s0[max_rank] = {};
  std::int64_t s1[max_rank] = {};
};

// Offsets of linear (row-major) index i under the two stride sets.
__device__ __forceinline__ void strided_offsets(const strided_meta& m, std::int64_t i, std::int64_t& o0,
                                                std::int64_t& o1) {
  o0 = 0;
  o1 = 0;
  for (int k = m.rank - 1; k >= 0; --k) {
    const std::int64_t idx = i % m.size[k];
    i /= m.size[k];
    o0 += idx * m.s0[k];
    o1 += idx * m.s1[k];
  }
}

}  // namespace vlm::cuda_detail
