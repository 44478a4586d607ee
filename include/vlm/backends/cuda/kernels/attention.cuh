// Masked row softmax for attention scores S [B, H, Sq, Sk] (f32, in place), one block per row.
// A key j is visible to query i of batch b when all of these hold (absolute sequence indices):
//   causal:      j <= q_offset + i
//   segments:    j lies in the same cu_seqlens segment as i  (B == 1, Sq == Sk)
//   key_valid:   key_valid[b, j] != 0
// Invisible keys get probability 0; a row with no visible key is all zeros (as the CPU backend).
// Worked example, cu_seqlens = [0, 3, 7]: query 4 sits in segment [3, 7) and sees keys 3..6.
#pragma once
#include <math_constants.h>

#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

struct attn_mask_args {
  bool causal;
  std::int64_t q_offset;
  const std::int32_t* cu_seqlens;  // nullptr: no segments
  int n_bounds;                    // entries in cu_seqlens
  const std::uint8_t* key_valid;   // [B, Sk] or nullptr
};

// (a template only so that this header-defined kernel may appear in several TUs)
template <class Unused = void>
__global__ void attention_softmax_kernel(float* S, std::int64_t H, std::int64_t Sq, std::int64_t Sk,
                                         attn_mask_args m) {
  const std::int64_t row = blockIdx.x, i = row % Sq, b = row / (H * Sq);
  float* p = S + row * Sk;
  std::int64_t lo = 0, hi = Sk;
  if (m.cu_seqlens) {  // segment of i: the last bound <= i, and the next one
    int a = 0, z = m.n_bounds - 1;
    while (z - a > 1) {
      const int mid = (a + z) / 2;
      if (m.cu_seqlens[mid] <= i) a = mid; else z = mid;
    }
    lo = m.cu_seqlens[a];
    hi = m.cu_seqlens[a + 1];
  }
  if (m.causal) hi = min(hi, m.q_offset + i + 1);
  const std::uint8_t* valid = m.key_valid ? m.key_valid + b * Sk : nullptr;
  auto visible = [&](std::int64_t j) { return j >= lo && j < hi && (!valid || valid[j]); };
  float mx = -CUDART_INF_F;
  for (std::int64_t j = threadIdx.x; j < Sk; j += blockDim.x)
    if (visible(j)) mx = fmaxf(mx, p[j]);
  mx = block_reduce(mx, max_op{}, -CUDART_INF_F);
  if (mx == -CUDART_INF_F) {
    for (std::int64_t j = threadIdx.x; j < Sk; j += blockDim.x) p[j] = 0.f;
    return;
  }
  float sum = 0.f;
  for (std::int64_t j = threadIdx.x; j < Sk; j += blockDim.x) {
    const float e = visible(j) ? expf(p[j] - mx) : 0.f;
    p[j] = e;
    sum += e;
  }
  const float inv = 1.f / block_reduce(sum, sum_op{}, 0.f);
  for (std::int64_t j = threadIdx.x; j < Sk; j += blockDim.x) p[j] *= inv;
}

}  // namespace vlm::cuda_detail
