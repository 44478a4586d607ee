// Strided copy: dst[idx] = src[idx] over a shared index space, each side with its own strides.
// One thread per element (grid-stride); the index is decoded once and used for both sides.
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

template <class T>
__global__ void strided_copy_kernel(T* dst, const T* src, std::int64_t n, strided_meta m) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t od, os;
    strided_offsets(m, i, od, os);
    dst[od] = src[os];
  }
}

}  // namespace vlm::cuda_detail
