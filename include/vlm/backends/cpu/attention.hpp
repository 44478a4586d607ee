// Scaled dot-product attention core on the CPU: scores, mask, softmax (f32), weighted sum.
//   q [B, Sq, H, D], k/v [B, Sk, Hkv, D] (the layout a projection produces: no transposes),
//   out [B, Sq, H, D]. Query head h reads kv head h / (H / Hkv) (grouped-query attention).
// Masks (attention_mask): causal by *sequence index* (never by M-RoPE position; spec 8.10),
// with q_offset = index of query 0 among the keys (prefill 0, decode = cached length);
// segments via cu_seqlens (vision windows: tokens attend only inside their segment); padding
// via key_valid [B, Sk]. Rows with nothing to attend to produce zeros.
// For training, forward can keep the probabilities [B, H, Sq, Sk] for the backward.
#pragma once
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "vlm/backends/cpu/gemm.hpp"
#include "vlm/backends/cpu/softmax.hpp"
#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

struct attention_mask {
  bool causal = false;
  std::int64_t q_offset = 0;                // query i sees keys j <= q_offset + i (causal)
  std::vector<std::int32_t> cu_seqlens;     // segment boundaries over tokens (B == 1, Sq == Sk)
  tensor<std::uint8_t, cpu> key_valid;      // [B, Sk], 1 = real token, 0 = padding (optional)
};

namespace cpu_detail {

struct attn_dims {
  std::int64_t B, Sq, Sk, H, Hkv, D;
};
// One unit of work: rows [q0, q1) of batch b attending to keys [k0, k1).
struct attn_block {
  std::int64_t b, q0, q1, k0, k1;
};

inline std::vector<attn_block> attention_blocks(const attn_dims& d, const attention_mask& m) {
  std::vector<attn_block> blocks;
  if (!m.cu_seqlens.empty()) {
    VLM_CHECK_AS(shape_error, d.B == 1 && d.Sq == d.Sk, "attention segments need B == 1 and Sq == Sk");
    VLM_CHECK_AS(shape_error, m.cu_seqlens.front() == 0 && m.cu_seqlens.back() == d.Sq,
                 "cu_seqlens must run from 0 to ", d.Sq, ", got ", m.cu_seqlens.front(), "..", m.cu_seqlens.back());
    for (std::size_t i = 0; i + 1 < m.cu_seqlens.size(); ++i)
      if (m.cu_seqlens[i + 1] > m.cu_seqlens[i])
        blocks.push_back({0, m.cu_seqlens[i], m.cu_seqlens[i + 1], m.cu_seqlens[i], m.cu_seqlens[i + 1]});
  } else {
    for (std::int64_t b = 0; b < d.B; ++b) blocks.push_back({b, 0, d.Sq, 0, d.Sk});
  }
  return blocks;
}

// Fills scores [nq, nk] (row-major) = scale * q k^T with the mask applied (-inf), then softmax.
template <class T>
void attention_probs(const T* q, const T* k, const attn_dims& d, const attention_mask& m, const attn_block& blk,
                     std::int64_t h, float scale, float* p, std::vector<float>& qbuf, std::vector<float>& kbuf) {
  const std::int64_t nq = blk.q1 - blk.q0, nk = blk.k1 - blk.k0, kvh = h / (d.H / d.Hkv);
  const std::int64_t qs = d.H * d.D, ks = d.Hkv * d.D;
  const float* qf;
  const float* kf;
  std::int64_t lq = qs, lk = ks;
  if constexpr (std::is_same_v<T, float>) {
    qf = q + ((blk.b * d.Sq + blk.q0) * d.H + h) * d.D;
    kf = k + ((blk.b * d.Sk + blk.k0) * d.Hkv + kvh) * d.D;
  } else {  // widen this head's rows once
    qbuf.resize(static_cast<std::size_t>(nq * d.D));
    kbuf.resize(static_cast<std::size_t>(nk * d.D));
    for (std::int64_t i = 0; i < nq; ++i)
      widen(q + ((blk.b * d.Sq + blk.q0 + i) * d.H + h) * d.D, qbuf.data() + i * d.D, d.D);
    for (std::int64_t j = 0; j < nk; ++j)
      widen(k + ((blk.b * d.Sk + blk.k0 + j) * d.Hkv + kvh) * d.D, kbuf.data() + j * d.D, d.D);
    qf = qbuf.data();
    kf = kbuf.data();
    lq = lk = d.D;
  }
  sgemm_block(false, true, nq, nk, d.D, scale, qf, lq, kf, lk, 0.f, p, nk);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const std::uint8_t* valid = m.key_valid.defined() ? m.key_valid.data() + blk.b * d.Sk : nullptr;
  for (std::int64_t i = 0; i < nq; ++i) {
    float* row = p + i * nk;
    if (m.causal) {
      std::int64_t last = m.q_offset + blk.q0 + i;  // last visible key (sequence index)
      for (std::int64_t j = std::max<std::int64_t>(0, last - blk.k0 + 1); j < nk; ++j) row[j] = neg_inf;
    }
    if (valid)
      for (std::int64_t j = 0; j < nk; ++j)
        if (!valid[blk.k0 + j]) row[j] = neg_inf;
    softmax_row(row, nk);
  }
}

}  // namespace cpu_detail

// requires: q [B,Sq,H,D], k, v [B,Sk,Hkv,D] contiguous-able, H % Hkv == 0.
// probs_out: if non-null, receives [B, H, Sq, Sk] f32 probabilities (zeros outside segments).
template <class T>
tensor<T, cpu> attention(const tensor<T, cpu>& q, const tensor<T, cpu>& k, const tensor<T, cpu>& v,
                         const attention_mask& mask, float scale, tensor<float, cpu>* probs_out = nullptr) {
  VLM_CHECK_AS(shape_error, q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.shape() == v.shape() &&
                                q.size(0) == k.size(0) && q.size(3) == k.size(3) && q.size(2) % k.size(2) == 0,
               "attention: q ", q.shape().str(), " k ", k.shape().str(), " v ", v.shape().str(),
               " (expected [B,S,H,D] with H a multiple of the kv heads)");
  const cpu_detail::attn_dims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  VLM_CHECK_AS(shape_error, !mask.key_valid.defined() || mask.key_valid.numel() == d.B * d.Sk, "attention: key_valid ",
               mask.key_valid.shape().str(), ", expected [", d.B, ", ", d.Sk, "]");
  // attention_probs reads key_valid as a dense [B, Sk] array: densify a strided view once.
  attention_mask dense_mask;
  const attention_mask* mp = &mask;
  if (mask.key_valid.defined() && !mask.key_valid.is_contiguous()) {
    dense_mask = mask;
    dense_mask.key_valid = mask.key_valid.contiguous();
    mp = &dense_mask;
  }
  const attention_mask& m = *mp;
  auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  auto out = tensor<T, cpu>::zeros(q.shape());
  if (probs_out) *probs_out = tensor<float, cpu>::zeros({d.B, d.H, d.Sq, d.Sk});
  const auto blocks = cpu_detail::attention_blocks(d, m);
  const std::int64_t n_items = static_cast<std::int64_t>(blocks.size()) * d.H;
  cpu_detail::parallel_for(n_items, 1, [&](std::int64_t i0, std::int64_t i1) {
    std::vector<float> p, qbuf, kbuf, vbuf, obuf;
    for (std::int64_t it = i0; it < i1; ++it) {
      const auto& blk = blocks[static_cast<std::size_t>(it / d.H)];
      const std::int64_t h = it % d.H, kvh = h / (d.H / d.Hkv);
      const std::int64_t nq = blk.q1 - blk.q0, nk = blk.k1 - blk.k0;
      p.resize(static_cast<std::size_t>(nq * nk));
      cpu_detail::attention_probs(qc.data(), kc.data(), d, m, blk, h, scale, p.data(), qbuf, kbuf);
      // out rows = P v (f32), written into the [B,S,H,D] layout.
      const float* vf;
      std::int64_t lv = d.Hkv * d.D;
      if constexpr (std::is_same_v<T, float>) {
        vf = vc.data() + ((blk.b * d.Sk + blk.k0) * d.Hkv + kvh) * d.D;
      } else {
        vbuf.resize(static_cast<std::size_t>(nk * d.D));
        for (std::int64_t j = 0; j < nk; ++j)
          cpu_detail::widen(vc.data() + ((blk.b * d.Sk + blk.k0 + j) * d.Hkv + kvh) * d.D, vbuf.data() + j * d.D, d.D);
        vf = vbuf.data();
        lv = d.D;
      }
      obuf.resize(static_cast<std::size_t>(nq * d.D));
      cpu_detail::sgemm_block(false, false, nq, d.D, nk, 1.f, p.data(), nk, vf, lv, 0.f, obuf.data(), d.D);
      for (std::int64_t i = 0; i < nq; ++i) {
        T* o = out.data() + ((blk.b * d.Sq + blk.q0 + i) * d.H + h) * d.D;
        for (std::int64_t c = 0; c < d.D; ++c) o[c] = convert<T>(obuf[static_cast<std::size_t>(i * d.D + c)]);
      }
      if (probs_out) {
        float* dst = probs_out->data() + ((blk.b * d.H + h) * d.Sq + blk.q0) * d.Sk + blk.k0;
        for (std::int64_t i = 0; i < nq; ++i)
          std::memcpy(dst + i * d.Sk, p.data() + i * nk, static_cast<std::size_t>(nk) * sizeof(float));
      }
    }
  });
  return out;
}

// Backward of attention given the saved probabilities P [B,H,Sq,Sk] (f32 path only).
//   dV = P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));  dQ = scale dS K;  dK = scale dS^T Q
// Work is split by kv head so the heads of one group accumulate into dK/dV without races.
inline void attention_backward(const tensor<float, cpu>& q, const tensor<float, cpu>& k, const tensor<float, cpu>& v,
                               const tensor<float, cpu>& probs, const attention_mask& mask, float scale,
                               const tensor<float, cpu>& d_out, tensor<float, cpu>& dq, tensor<float, cpu>& dk,
                               tensor<float, cpu>& dv) {
  const cpu_detail::attn_dims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), gc = d_out.contiguous();
  dq = tensor<float, cpu>::zeros(q.shape());
  dk = tensor<float, cpu>::zeros(k.shape());
  dv = tensor<float, cpu>::zeros(v.shape());
  const auto blocks = cpu_detail::attention_blocks(d, mask);
  const std::int64_t group = d.H / d.Hkv;
  const std::int64_t n_items = static_cast<std::int64_t>(blocks.size()) * d.Hkv;
  const std::int64_t qs = d.H * d.D, ks = d.Hkv * d.D;
  cpu_detail::parallel_for(n_items, 1, [&](std::int64_t i0, std::int64_t i1) {
    std::vector<float> p, dp;
    for (std::int64_t it = i0; it < i1; ++it) {
      const auto& blk = blocks[static_cast<std::size_t>(it / d.Hkv)];
      const std::int64_t kvh = it % d.Hkv, nq = blk.q1 - blk.q0, nk = blk.k1 - blk.k0;
      const std::int64_t koff = ((blk.b * d.Sk + blk.k0) * d.Hkv + kvh) * d.D;
      p.resize(static_cast<std::size_t>(nq * nk));
      dp.resize(static_cast<std::size_t>(nq * nk));
      for (std::int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const std::int64_t qoff = ((blk.b * d.Sq + blk.q0) * d.H + h) * d.D;
        const float* src = probs.data() + ((blk.b * d.H + h) * d.Sq + blk.q0) * d.Sk + blk.k0;
        for (std::int64_t i = 0; i < nq; ++i)
          std::memcpy(p.data() + i * nk, src + i * d.Sk, static_cast<std::size_t>(nk) * sizeof(float));
        // dV += P^T dO
        cpu_detail::sgemm_block(true, false, nk, d.D, nq, 1.f, p.data(), nk, gc.data() + qoff, qs, 1.f,
                                dv.data() + koff, ks);
        // dP = dO V^T
        cpu_detail::sgemm_block(false, true, nq, nk, d.D, 1.f, gc.data() + qoff, qs, vc.data() + koff, ks, 0.f,
                                dp.data(), nk);
        for (std::int64_t i = 0; i < nq; ++i) {
          float dot = 0.f;
          for (std::int64_t j = 0; j < nk; ++j) dot += dp[static_cast<std::size_t>(i * nk + j)] * p[static_cast<std::size_t>(i * nk + j)];
          for (std::int64_t j = 0; j < nk; ++j) {
            auto ij = static_cast<std::size_t>(i * nk + j);
            dp[ij] = p[ij] * (dp[ij] - dot);
          }
        }
        // dQ = scale dS K ; dK += scale dS^T Q
        cpu_detail::sgemm_block(false, false, nq, d.D, nk, scale, dp.data(), nk, kc.data() + koff, ks, 0.f,
                                dq.data() + qoff, qs);
        cpu_detail::sgemm_block(true, false, nk, d.D, nq, scale, dp.data(), nk, qc.data() + qoff, qs, 1.f,
                                dk.data() + koff, ks);
      }
    }
  });
}

}  // namespace vlm
