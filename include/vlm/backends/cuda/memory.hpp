// Device memory for vlm::cuda (cudaMalloc/cudaFree, synchronous copies on the default stream).
// Host code only: a g++ TU linking vlm::cuda can move tensors; kernels need nvcc.
// device_count() returns 0 (never throws) where no driver or GPU is present.
#pragma once
#include <cuda_runtime_api.h>

#include "vlm/backends/backend.hpp"
#include "vlm/backends/cuda/check.hpp"

namespace vlm {

template <>
struct backend_memory<cuda> {
  static void* allocate(std::size_t n) {
    void* p = nullptr;
    if (n) VLM_CUDA_CHECK(cudaMalloc(&p, n));
    return p;
  }
  static void deallocate(void* p, std::size_t) { if (p) cudaFree(p); }
  static void copy(void* dst, const void* src, std::size_t n) {
    if (n) VLM_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice));
  }
  static void copy_to_host(void* dst, const void* src, std::size_t n) {
    if (n) VLM_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
  }
  static void copy_from_host(void* dst, const void* src, std::size_t n) {
    if (n) VLM_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
  }
  static void fill_zero(void* p, std::size_t n) { if (n) VLM_CUDA_CHECK(cudaMemset(p, 0, n)); }
};

static_assert(backend<cuda>);

namespace cuda_rt {
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}
}  // namespace cuda_rt

}  // namespace vlm
