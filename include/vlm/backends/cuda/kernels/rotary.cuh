// Rotary embedding, NeoX layout (pairs (i, i + D/2)); one thread per pair.
//   x [N, H, D] contiguous, cos/sin [N, D] f32. sign = +1 forward, -1 for the backward
//   (the transpose of a rotation is the rotation by -angle when cos/sin repeat across halves).
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

template <class T>
__global__ void rotary_kernel(T* y, const T* x, const float* cos, const float* sin, std::int64_t N, std::int64_t H,
                              std::int64_t D, float sign) {
  const std::int64_t half = D / 2;
  VLM_GRID_STRIDE(p, N * H * half) {
    const std::int64_t i = p % half, row = p / half, n = row / H;  // row = n * H + h
    const float* c = cos + n * D;
    const float* s = sin + n * D;
    const float x1 = ld(x, row * D + i), x2 = ld(x, row * D + i + half);
    st(y, row * D + i, x1 * c[i] - sign * x2 * s[i]);
    st(y, row * D + i + half, x2 * c[i + half] + sign * x1 * s[i + half]);
  }
}

}  // namespace vlm::cuda_detail
