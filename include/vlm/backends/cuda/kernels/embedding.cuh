// Embedding gather (out[n, :] = w[ids[n], :]) and its backward scatter-add
// (d_weight[ids[n], :] += dy[n, :], atomics so repeated ids accumulate). Ids are validated
// on the host before launch. 16-bit types use a 32-bit compare-and-swap loop (any arch).
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

template <class T, class I>
__global__ void embedding_kernel(T* out, const T* w, const I* ids, std::int64_t N, std::int64_t C) {
  VLM_GRID_STRIDE(p, N * C) {
    const std::int64_t n = p / C, c = p % C;
    out[p] = w[static_cast<std::int64_t>(ids[n]) * C + c];
  }
}

__device__ __forceinline__ void atomic_add_f(float* p, float v) { atomicAdd(p, v); }

// *p += v for a 16-bit float type: CAS on the aligned 32-bit word holding it; f32 add, one rounding.
template <class T>
__device__ void atomic_add_f(T* p, float v) {
  static_assert(sizeof(T) == 2, "16-bit element types only");
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto* word = reinterpret_cast<unsigned int*>(addr & ~std::uintptr_t(3));
  const unsigned shift = (addr & 2) ? 16u : 0u;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    T cur;
    cur.bits = static_cast<std::uint16_t>((assumed >> shift) & 0xffffu);
    const T upd = convert<T>(static_cast<float>(cur) + v);
    const unsigned int next = (assumed & ~(0xffffu << shift)) | (static_cast<unsigned int>(upd.bits) << shift);
    old = atomicCAS(word, assumed, next);
  } while (old != assumed);
}

template <class T, class I>
__global__ void embedding_backward_kernel(T* dw, const T* dy, const I* ids, std::int64_t N, std::int64_t C) {
  VLM_GRID_STRIDE(p, N * C) {
    const std::int64_t n = p / C, c = p % C;
    atomic_add_f(dw + static_cast<std::int64_t>(ids[n]) * C + c, ld(dy, p));
  }
}

}  // namespace vlm::cuda_detail
