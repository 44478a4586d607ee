// Scaled dot-product attention on vlm::cuda, same contract as backends/cpu/attention.hpp:
//   q [B, Sq, H, D], k/v [B, Sk, Hkv, D] -> out [B, Sq, H, D]; query head h reads kv head
//   h / (H / Hkv); masks from attention_mask (causal with q_offset, cu_seqlens segments,
//   key_valid [B, Sk] padding; a row with nothing to attend to gives zeros); probs_out keeps
//   P [B, H, Sq, Sk] f32 for the backward.
// Correctness first, not flash attention: per (b, h) one cuBLAS GEMM writes S = scale q k^T
// (f32 output, f32 accumulation), a masked-softmax kernel turns S into P in place, and a second
// f32 GEMM computes P v (v widened to f32, so bf16 matches the CPU's rounding: once, at the
// end). Memory is O(B H Sq Sk); segments are computed densely and masked.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <limits>

#include "vlm/backends/cpu/attention.hpp"  // attention_mask
#include "vlm/backends/cuda/elementwise.hpp"
#include "vlm/backends/cuda/gemm.hpp"
#include "vlm/backends/cuda/kernels/attention.cuh"
#include "vlm/backends/cuda/softmax.hpp"

namespace vlm {

namespace cuda_detail {

struct attn_shape {
  std::int64_t B, Sq, Sk, H, Hkv, D;
};

template <class T>
attn_shape check_attention(const tensor<T, cuda>& q, const tensor<T, cuda>& k, const tensor<T, cuda>& v,
                           const attention_mask& mask) {
  VLM_CHECK_AS(shape_error, q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.shape() == v.shape() &&
                                q.size(0) == k.size(0) && q.size(3) == k.size(3) && k.size(2) > 0 &&
                                q.size(2) % k.size(2) == 0,
               "attention: q ", q.shape().str(), " k ", k.shape().str(), " v ", v.shape().str(),
               " (expected [B,S,H,D] with H a multiple of the kv heads)");
  const attn_shape d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  if (!mask.cu_seqlens.empty()) {
    VLM_CHECK_AS(shape_error, d.B == 1 && d.Sq == d.Sk, "attention segments need B == 1 and Sq == Sk");
    VLM_CHECK_AS(shape_error, mask.cu_seqlens.size() >= 2 && mask.cu_seqlens.front() == 0 && mask.cu_seqlens.back() == d.Sq,
                 "cu_seqlens must run from 0 to ", d.Sq, ", got ", mask.cu_seqlens.front(), "..", mask.cu_seqlens.back());
    for (std::size_t i = 0; i + 1 < mask.cu_seqlens.size(); ++i)
      VLM_CHECK_AS(shape_error, mask.cu_seqlens[i] <= mask.cu_seqlens[i + 1], "cu_seqlens must not decrease (index ", i,
                   ")");
  }
  if (mask.key_valid.defined())
    VLM_CHECK_AS(shape_error, mask.key_valid.numel() == d.B * d.Sk, "attention: key_valid ",
                 mask.key_valid.shape().str(), ", expected [", d.B, ", ", d.Sk, "]");
  VLM_CHECK_AS(shape_error, d.B * d.H * d.Sq <= std::numeric_limits<int>::max(), "attention: too many rows");
  return d;
}

// Masks uploaded to the device for one call (kept alive by the owning tensors).
struct device_mask {
  tensor<std::int32_t, cuda> cu;
  tensor<std::uint8_t, cuda> valid;
  attn_mask_args args{};
};
inline device_mask upload_mask(const attention_mask& m) {
  device_mask dm;
  dm.args.causal = m.causal;
  dm.args.q_offset = m.q_offset;
  if (!m.cu_seqlens.empty()) {
    dm.cu = tensor<std::int32_t, cuda>::from_host({static_cast<std::int64_t>(m.cu_seqlens.size())},
                                                  std::span<const std::int32_t>(m.cu_seqlens));
    dm.args.cu_seqlens = dm.cu.data();
    dm.args.n_bounds = static_cast<int>(m.cu_seqlens.size());
  }
  if (m.key_valid.defined()) {
    dm.valid = to_backend<cuda>(m.key_valid);
    dm.args.key_valid = dm.valid.data();
  }
  return dm;
}

}  // namespace cuda_detail

// requires: q [B,Sq,H,D], k, v [B,Sk,Hkv,D] (any strides), H % Hkv == 0.
// probs_out: if non-null, receives [B, H, Sq, Sk] f32 probabilities (zeros where masked).
template <class T>
tensor<T, cuda> attention(const tensor<T, cuda>& q, const tensor<T, cuda>& k, const tensor<T, cuda>& v,
                          const attention_mask& mask, float scale, tensor<float, cuda>* probs_out = nullptr,
                          cudaStream_t s = 0) {
  static_assert(cuda_detail::gemm_type_v<T>, "cuda attention supports float, bf16 and f16");
  const auto d = cuda_detail::check_attention(q, k, v, mask);
  // (named extents: nvcc 13 mangles braced lists of member accesses such as {d.B, d.H} here)
  const vlm::shape p_shape{d.B, d.H, d.Sq, d.Sk};
  auto qc = q.contiguous(), kc = k.contiguous();
  auto v32 = cast<float>(v.contiguous(), s);
  auto P = tensor<float, cuda>::empty(p_shape);
  auto out32 = tensor<float, cuda>::zeros(q.shape());
  if (d.B * d.H * d.Sq > 0 && d.Sk > 0) {
    const std::int64_t group = d.H / d.Hkv, qld = d.H * d.D, kld = d.Hkv * d.D;
    constexpr auto dt = cuda_detail::cuda_dtype_v<T>;
    // S = scale q k^T for each (b, h): [Sq, D] x [Sk, D]^T -> P[b, h] (f32)
    for (std::int64_t b = 0; b < d.B; ++b)
      for (std::int64_t h = 0; h < d.H; ++h) {
        const std::int64_t kvh = h / group;
        cuda_detail::gemm_rm(s, d.Sq, d.Sk, d.D, scale, {qc.data() + (b * d.Sq * d.H + h) * d.D, qld, false},
                             {kc.data() + (b * d.Sk * d.Hkv + kvh) * d.D, kld, true}, dt, 0.f,
                             P.data() + (b * d.H + h) * d.Sq * d.Sk, d.Sk, CUDA_R_32F);
      }
    const auto dm = cuda_detail::upload_mask(mask);
    cuda_detail::attention_softmax_kernel<><<<static_cast<unsigned>(d.B * d.H * d.Sq), cuda_detail::row_block(d.Sk), 0,
                                            s>>>(P.data(), d.H, d.Sq, d.Sk, dm.args);
    VLM_CUDA_LAUNCHED("attention_softmax_kernel");
    // out[b, :, h, :] = P[b, h] v[b, :, kvh, :]   (f32)
    for (std::int64_t b = 0; b < d.B; ++b)
      for (std::int64_t h = 0; h < d.H; ++h) {
        const std::int64_t kvh = h / group;
        cuda_detail::gemm_rm(s, d.Sq, d.D, d.Sk, 1.f, {P.data() + (b * d.H + h) * d.Sq * d.Sk, d.Sk, false},
                             {v32.data() + (b * d.Sk * d.Hkv + kvh) * d.D, kld, false}, CUDA_R_32F, 0.f,
                             out32.data() + (b * d.Sq * d.H + h) * d.D, qld, CUDA_R_32F);
      }
    if (probs_out) *probs_out = P;
  } else if (probs_out) {
    *probs_out = tensor<float, cuda>::zeros(p_shape);
  }
  return cast<T>(out32, s);
}

// Backward of attention given the saved probabilities P [B,H,Sq,Sk] (f32, as the CPU backend).
//   dV = P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));  dQ = scale dS K;  dK = scale dS^T Q
// dK/dV of a kv head accumulate over its query heads (sequential GEMMs with beta = 1).
inline void attention_backward(const tensor<float, cuda>& q, const tensor<float, cuda>& k,
                               const tensor<float, cuda>& v, const tensor<float, cuda>& probs,
                               const attention_mask& mask, float scale, const tensor<float, cuda>& d_out,
                               tensor<float, cuda>& dq, tensor<float, cuda>& dk, tensor<float, cuda>& dv,
                               cudaStream_t s = 0) {
  const auto d = cuda_detail::check_attention(q, k, v, mask);
  VLM_CHECK_AS(shape_error, probs.numel() == d.B * d.H * d.Sq * d.Sk && d_out.shape() == q.shape(),
               "attention_backward: probs ", probs.shape().str(), " d_out ", d_out.shape().str(), " for q ",
               q.shape().str(), " k ", k.shape().str());
  auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), gc = d_out.contiguous(), P = probs.contiguous();
  dq = tensor<float, cuda>::zeros(q.shape());
  dk = tensor<float, cuda>::zeros(k.shape());
  dv = tensor<float, cuda>::zeros(v.shape());
  if (d.B * d.H * d.Sq == 0 || d.Sk == 0) return;
  const std::int64_t group = d.H / d.Hkv, qld = d.H * d.D, kld = d.Hkv * d.D, SS = d.Sq * d.Sk;
  auto dS = tensor<float, cuda>::empty(probs.shape());
  const auto f32 = CUDA_R_32F;
  for (std::int64_t b = 0; b < d.B; ++b)
    for (std::int64_t h = 0; h < d.H; ++h) {
      const std::int64_t kvh = h / group, qo = (b * d.Sq * d.H + h) * d.D, ko = (b * d.Sk * d.Hkv + kvh) * d.D;
      const float* p = P.data() + (b * d.H + h) * SS;
      // dV[kvh] += P^T dO
      cuda_detail::gemm_rm(s, d.Sk, d.D, d.Sq, 1.f, {p, d.Sk, true}, {gc.data() + qo, qld, false}, f32, 1.f,
                           dv.data() + ko, kld, f32);
      // dP = dO V^T
      cuda_detail::gemm_rm(s, d.Sq, d.Sk, d.D, 1.f, {gc.data() + qo, qld, false}, {vc.data() + ko, kld, true}, f32, 0.f,
                           dS.data() + (b * d.H + h) * SS, d.Sk, f32);
    }
  // dS = P * (dP - rowsum(dP * P)), in place.
  cuda_detail::softmax_backward_kernel<<<static_cast<unsigned>(d.B * d.H * d.Sq), cuda_detail::row_block(d.Sk), 0, s>>>(
      dS.data(), P.data(), dS.data(), d.Sk);
  VLM_CUDA_LAUNCHED("softmax_backward_kernel(attention)");
  for (std::int64_t b = 0; b < d.B; ++b)
    for (std::int64_t h = 0; h < d.H; ++h) {
      const std::int64_t kvh = h / group, qo = (b * d.Sq * d.H + h) * d.D, ko = (b * d.Sk * d.Hkv + kvh) * d.D;
      const float* ds = dS.data() + (b * d.H + h) * SS;
      // dQ = scale dS K ; dK[kvh] += scale dS^T Q
      cuda_detail::gemm_rm(s, d.Sq, d.D, d.Sk, scale, {ds, d.Sk, false}, {kc.data() + ko, kld, false}, f32, 0.f,
                           dq.data() + qo, qld, f32);
      cuda_detail::gemm_rm(s, d.Sk, d.D, d.Sq, scale, {ds, d.Sk, true}, {qc.data() + qo, qld, false}, f32, 1.f,
                           dk.data() + ko, kld, f32);
    }
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
