// Attention core on the CPU against a naive double reference: plain, causal, causal with
// q_offset (decode and chunked prefill equal rows of the full prefill), cu_seqlens segments,
// key padding, GQA (H = 4, Hkv = 2), probs_out, non-contiguous q/k/v, and the backward.
#include <catch2/catch.hpp>
#include <cmath>
#include <vlm/backends/cpu.hpp>

#include "../common/random_tensor.hpp"
#include "../common/tolerance.hpp"

using vlm::bf16;
using vlm::tensor;
using namespace vlm_test;

namespace {

struct dims {
  std::int64_t B, Sq, Sk, H, Hkv, D;
};

// May query i of batch b see key j?
bool allowed(const vlm::attention_mask& m, const std::vector<double>& valid, const dims& d, std::int64_t b,
             std::int64_t i, std::int64_t j) {
  if (!m.cu_seqlens.empty()) {
    auto seg = [&](std::int64_t t) {
      std::size_t s = 0;
      while (!(t >= m.cu_seqlens[s] && t < m.cu_seqlens[s + 1])) ++s;
      return s;
    };
    if (seg(i) != seg(j)) return false;
  }
  if (m.causal && j > m.q_offset + i) return false;
  if (!valid.empty() && valid[static_cast<std::size_t>(b * d.Sk + j)] == 0) return false;
  return true;
}

std::size_t at4(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t c, std::int64_t S, std::int64_t H,
                std::int64_t D) {
  return static_cast<std::size_t>(((b * S + s) * H + h) * D + c);
}

struct ref_result {
  std::vector<double> out, probs;              // [B,Sq,H,D], [B,H,Sq,Sk]
  std::vector<double> dq, dk, dv;              // filled by ref_backward
};

ref_result ref_attention(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                         const dims& d, const vlm::attention_mask& m, double scale) {
  std::vector<double> valid;
  if (m.key_valid.defined()) valid = to_double(m.key_valid);
  ref_result r;
  r.out.assign(static_cast<std::size_t>(d.B * d.Sq * d.H * d.D), 0.0);
  r.probs.assign(static_cast<std::size_t>(d.B * d.H * d.Sq * d.Sk), 0.0);
  const std::int64_t group = d.H / d.Hkv;
  for (std::int64_t b = 0; b < d.B; ++b)
    for (std::int64_t h = 0; h < d.H; ++h)
      for (std::int64_t i = 0; i < d.Sq; ++i) {
        std::vector<double> s(static_cast<std::size_t>(d.Sk), -INFINITY);
        double mx = -INFINITY;
        for (std::int64_t j = 0; j < d.Sk; ++j) {
          if (!allowed(m, valid, d, b, i, j)) continue;
          double dot = 0;
          for (std::int64_t c = 0; c < d.D; ++c)
            dot += q[at4(b, i, h, c, d.Sq, d.H, d.D)] * k[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)];
          s[static_cast<std::size_t>(j)] = dot * scale;
          mx = std::max(mx, dot * scale);
        }
        if (mx == -INFINITY) continue;  // nothing visible: zeros
        double z = 0;
        for (auto& x : s) z += (x = std::exp(x - mx));
        for (std::int64_t j = 0; j < d.Sk; ++j) {
          const double p = s[static_cast<std::size_t>(j)] / z;
          r.probs[static_cast<std::size_t>(((b * d.H + h) * d.Sq + i) * d.Sk + j)] = p;
          for (std::int64_t c = 0; c < d.D; ++c)
            r.out[at4(b, i, h, c, d.Sq, d.H, d.D)] += p * v[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)];
        }
      }
  return r;
}

// dq, dk, dv of sum(dout * out), from the reference probabilities.
void ref_backward(ref_result& r, const std::vector<double>& q, const std::vector<double>& k,
                  const std::vector<double>& v, const std::vector<double>& dout, const dims& d, double scale) {
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  const std::int64_t group = d.H / d.Hkv;
  for (std::int64_t b = 0; b < d.B; ++b)
    for (std::int64_t h = 0; h < d.H; ++h)
      for (std::int64_t i = 0; i < d.Sq; ++i) {
        const double* p = r.probs.data() + ((b * d.H + h) * d.Sq + i) * d.Sk;
        std::vector<double> dp(static_cast<std::size_t>(d.Sk));
        double rowdot = 0;
        for (std::int64_t j = 0; j < d.Sk; ++j) {
          double s = 0;
          for (std::int64_t c = 0; c < d.D; ++c)
            s += dout[at4(b, i, h, c, d.Sq, d.H, d.D)] * v[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)];
          dp[static_cast<std::size_t>(j)] = s;
          rowdot += s * p[j];
        }
        for (std::int64_t j = 0; j < d.Sk; ++j) {
          const double ds = p[j] * (dp[static_cast<std::size_t>(j)] - rowdot);
          for (std::int64_t c = 0; c < d.D; ++c) {
            r.dq[at4(b, i, h, c, d.Sq, d.H, d.D)] += scale * ds * k[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)];
            r.dk[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)] += scale * ds * q[at4(b, i, h, c, d.Sq, d.H, d.D)];
            r.dv[at4(b, j, h / group, c, d.Sk, d.Hkv, d.D)] += p[j] * dout[at4(b, i, h, c, d.Sq, d.H, d.D)];
          }
        }
      }
}

struct attn_case {
  const char* name;
  dims d;
  bool causal = false;
  std::int64_t q_offset = 0;
  std::vector<std::int32_t> cu_seqlens{};
  std::vector<std::uint8_t> key_valid{};  // [B * Sk] or empty
  bool permuted_q = false;                // q as a permute view of [B, H, S, D]
};

std::vector<attn_case> cases() {
  std::vector<std::uint8_t> pad(2 * 17, 1);
  for (int j = 12; j < 17; ++j) pad[static_cast<std::size_t>(17 + j)] = 0;  // batch 1: last 5 keys are padding
  pad[0] = pad[3] = 0;                                                     // batch 0: two holes
  std::vector<std::uint8_t> all_pad(2 * 9, 1);
  for (int j = 0; j < 9; ++j) all_pad[static_cast<std::size_t>(9 + j)] = 0;  // batch 1 sees nothing
  return {
      {"1x1", {1, 1, 1, 1, 1, 2}},
      {"plain", {2, 17, 17, 4, 4, 16}, false, 0, {}, {}, true},
      {"causal", {1, 17, 17, 2, 2, 8}, true},
      {"causal S=97 GQA", {1, 97, 97, 2, 1, 32}, true},
      {"causal q_offset (chunk of 3 after 7 cached)", {2, 3, 10, 4, 2, 8}, true, 7},
      {"segments", {1, 17, 17, 4, 2, 16}, false, 0, {0, 5, 5, 12, 17}},
      {"causal segments", {1, 17, 17, 2, 2, 8}, true, 0, {0, 1, 9, 17}, {}, true},
      {"padding GQA", {2, 17, 17, 4, 2, 16}, false, 0, {}, pad},
      {"causal padding", {2, 17, 17, 2, 2, 8}, true, 0, {}, pad, true},
      {"all keys padded in one batch", {2, 9, 9, 2, 1, 4}, false, 0, {}, all_pad},
  };
}

vlm::attention_mask make_mask(const attn_case& c) {
  vlm::attention_mask m;
  m.causal = c.causal;
  m.q_offset = c.q_offset;
  m.cu_seqlens = c.cu_seqlens;
  if (!c.key_valid.empty())
    m.key_valid = tensor<std::uint8_t>::from_host({c.d.B, c.d.Sk}, std::span<const std::uint8_t>(c.key_valid));
  return m;
}

}  // namespace

TEMPLATE_TEST_CASE("attention matches a double reference (causal, q_offset, segments, padding, GQA)",
                   "[cpu][attention]", float, bf16) {
  using T = TestType;
  rng r(21);
  for (const auto& c : cases()) {
    const dims& d = c.d;
    INFO(c.name << ": B=" << d.B << " Sq=" << d.Sq << " Sk=" << d.Sk << " H=" << d.H << " Hkv=" << d.Hkv << " D=" << d.D);
    tensor<T> q;
    if (c.permuted_q) q = randn<T>(r, {d.B, d.H, d.Sq, d.D}).permute({0, 2, 1, 3});
    else q = randn<T>(r, {d.B, d.Sq, d.H, d.D});
    auto k = randn<T>(r, {d.B, d.Sk, d.Hkv, d.D}), v = randn<T>(r, {d.B, d.Sk, d.Hkv, d.D});
    const auto mask = make_mask(c);
    const float scale = 1.f / std::sqrt(static_cast<float>(d.D));
    tensor<float> probs;
    auto out = vlm::attention(q, k, v, mask, scale, &probs);
    auto ref = ref_attention(to_double(q), to_double(k), to_double(v), d, mask, scale);
    REQUIRE(out.shape() == q.shape());
    VLM_CHECK_CLOSE("out", out, ref.out);
    // Probabilities come from f32 scores of the (exact) inputs in both dtypes: f32 tolerance.
    VLM_CHECK_CLOSE("probs", probs, ref.probs, tolerance<float>::rel);
    // Without probs_out the output is the same.
    VLM_CHECK_EXACT("out without probs_out", vlm::attention(q, k, v, mask, scale), out);
  }
}

TEST_CASE("attention_backward matches the double reference gradients", "[cpu][attention]") {
  rng r(22);
  for (const auto& c : cases()) {
    const dims& d = c.d;
    INFO(c.name);
    auto q = randn<float>(r, {d.B, d.Sq, d.H, d.D}), k = randn<float>(r, {d.B, d.Sk, d.Hkv, d.D}),
         v = randn<float>(r, {d.B, d.Sk, d.Hkv, d.D}), dout = randn<float>(r, {d.B, d.Sq, d.H, d.D});
    const auto mask = make_mask(c);
    const float scale = 1.f / std::sqrt(static_cast<float>(d.D));
    tensor<float> probs, dq, dk, dv;
    vlm::attention(q, k, v, mask, scale, &probs);
    vlm::attention_backward(q, k, v, probs, mask, scale, dout, dq, dk, dv);
    auto ref = ref_attention(to_double(q), to_double(k), to_double(v), d, mask, scale);
    ref_backward(ref, to_double(q), to_double(k), to_double(v), to_double(dout), d, scale);
    VLM_CHECK_CLOSE("dq", dq, ref.dq);
    VLM_CHECK_CLOSE("dk", dk, ref.dk);
    VLM_CHECK_CLOSE("dv", dv, ref.dv);
  }
}

TEST_CASE("attention with q_offset: decode and chunked prefill equal rows of the full prefill", "[cpu][attention][property]") {
  rng r(23);
  const std::int64_t S = 9, H = 4, Hkv = 2, D = 16;
  auto q = randn<float>(r, {1, S, H, D}), k = randn<float>(r, {1, S, Hkv, D}), v = randn<float>(r, {1, S, Hkv, D});
  vlm::attention_mask full;
  full.causal = true;
  const float scale = 0.25f;
  auto out = vlm::attention(q, k, v, full, scale);
  for (std::int64_t start : {S - 1, std::int64_t{4}, std::int64_t{0}}) {
    INFO("queries " << start << ".." << S - 1 << " with q_offset " << start);
    vlm::attention_mask m;
    m.causal = true;
    m.q_offset = start;
    auto part = vlm::attention(q.narrow(1, start, S - start), k, v, m, scale);
    VLM_CHECK_CLOSE("decode rows", part, out.narrow(1, start, S - start).contiguous());
  }
  // Decode against a cache that only holds the first S - 1 + 1 keys: same as the last row.
  vlm::attention_mask m;
  m.causal = true;
  m.q_offset = 5;
  auto step = vlm::attention(q.narrow(1, 5, 1), k.narrow(1, 0, 6), v.narrow(1, 0, 6), m, scale);
  VLM_CHECK_CLOSE("decode with a 6-key cache", step, out.narrow(1, 5, 1).contiguous());
}

TEST_CASE("GQA equals multi-head attention with each kv head repeated", "[cpu][attention][property]") {
  rng r(24);
  const std::int64_t S = 17, H = 4, Hkv = 2, D = 8;
  auto q = randn<float>(r, {1, S, H, D}), k = randn<float>(r, {1, S, Hkv, D}), v = randn<float>(r, {1, S, Hkv, D});
  auto kr = tensor<float>::empty({1, S, H, D}), vr = tensor<float>::empty({1, S, H, D});
  for (std::int64_t h = 0; h < H; ++h) {  // query head h reads kv head h / (H / Hkv)
    auto kd = kr.narrow(2, h, 1), vd = vr.narrow(2, h, 1);
    vlm::copy_into(kd, k.narrow(2, h / (H / Hkv), 1));
    vlm::copy_into(vd, v.narrow(2, h / (H / Hkv), 1));
  }
  vlm::attention_mask m;
  m.causal = true;
  VLM_CHECK_CLOSE("gqa vs repeated", vlm::attention(q, k, v, m, 0.3f), vlm::attention(q, kr, vr, m, 0.3f));
}

TEST_CASE("attention rejects bad masks and head counts with a message", "[cpu][attention]") {
  auto q = tensor<float>::zeros({1, 4, 3, 2}), k = tensor<float>::zeros({1, 4, 2, 2});
  vlm::attention_mask none;
  CHECK_THROWS_WITH(vlm::attention(q, k, k, none, 1.f), Catch::Contains("multiple of the kv heads"));
  auto q2 = tensor<float>::zeros({1, 4, 2, 2});
  vlm::attention_mask seg;
  seg.cu_seqlens = {0, 2, 3};
  CHECK_THROWS_WITH(vlm::attention(q2, k, k, seg, 1.f), Catch::Contains("cu_seqlens must run from 0 to 4"));
  vlm::attention_mask pad;
  pad.key_valid = tensor<std::uint8_t>::full({1, 3}, 1);
  CHECK_THROWS_AS(vlm::attention(q2, k, k, pad, 1.f), vlm::shape_error);
}

TEST_CASE("attention reads a non-contiguous key_valid mask correctly", "[cpu][attention]") {
  rng r(25);
  const std::int64_t B = 2, S = 6, H = 2, D = 4;
  auto q = randn<float>(r, {B, S, H, D}), k = randn<float>(r, {B, S, H, D}), v = randn<float>(r, {B, S, H, D});
  std::vector<std::uint8_t> valid = {1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1};
  vlm::attention_mask dense, strided;
  dense.key_valid = tensor<std::uint8_t>::from_host({B, S}, std::span<const std::uint8_t>(valid));
  strided.key_valid = padded_layout(dense.key_valid, 3);
  REQUIRE_FALSE(strided.key_valid.is_contiguous());
  VLM_CHECK_EXACT("strided mask", vlm::attention(q, k, v, strided, 0.5f), vlm::attention(q, k, v, dense, 0.5f));
}
