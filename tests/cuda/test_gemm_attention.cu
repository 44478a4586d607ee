// [cuda] tests, part 2: cuBLAS GEMM (matmul, gemm_into, linear), attention forward/backward
// with every mask kind, rotary, embedding (gather / scatter-add) and cross-entropy. Each case
// compares the vlm::cuda op with the vlm::cpu op on the same data.
#include "cuda_test_util.hpp"

using namespace vlm_test;

// f32 GEMMs: cuBLAS is asked for plain f32 (no TF32), so 1e-4 covers summation order only.
template <class T> inline constexpr double gemm_rtol = std::is_same_v<T, float> ? 1e-4 : rtol_v<T>;

TEMPLATE_TEST_CASE("cuda matmul, all transposes and awkward sizes", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  const std::int64_t sizes[][3] = {{1, 1, 1}, {1, 97, 129}, {17, 129, 97}, {129, 17, 1}, {97, 97, 97}, {64, 300, 129}};
  std::uint32_t seed = 100;
  for (auto& mnk : sizes) {
    const std::int64_t M = mnk[0], N = mnk[1], K = mnk[2];
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        auto a = rand_t<T>(ta ? vlm::shape{K, M} : vlm::shape{M, K}, seed++);
        auto b = rand_t<T>(tb ? vlm::shape{N, K} : vlm::shape{K, N}, seed++);
        const std::string tag = "matmul M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" +
                                std::to_string(K) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb);
        check_close(vlm::matmul(dev(a), dev(b), ta, tb), vlm::matmul(a, b, ta, tb), gemm_rtol<T>, tag);
      }
  }
  // transposed views are passed to cuBLAS without a copy; a narrowed view keeps its row stride
  auto a = rand_t<T>({129, 17}, 200), b = rand_t<T>({97, 129}, 201);
  check_close(vlm::matmul(dev(a).transpose(0, 1), dev(b).transpose(0, 1)),
              vlm::matmul(a.transpose(0, 1), b.transpose(0, 1)), gemm_rtol<T>, "matmul of transposed views");
  auto big = rand_t<T>({40, 200}, 202);
  check_close(vlm::matmul(dev(big).narrow(1, 3, 129), dev(b), false, true),
              vlm::matmul(big.narrow(1, 3, 129), b, false, true), gemm_rtol<T>, "matmul of a narrowed view");
  // a stepped slice (no unit stride anywhere) goes through a contiguous copy
  check_close(vlm::matmul(dev(big).slice(1, 0, 200, 2), dev(rand_t<T>({100, 17}, 203))),
              vlm::matmul(big.slice(1, 0, 200, 2), rand_t<T>({100, 17}, 203)), gemm_rtol<T>, "matmul of a stepped slice");
}

TEMPLATE_TEST_CASE("cuda batched matmul", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto a = rand_t<T>(ta ? vlm::shape{3, 97, 17} : vlm::shape{3, 17, 97}, 300 + ta);
      auto b = rand_t<T>(tb ? vlm::shape{3, 129, 97} : vlm::shape{3, 97, 129}, 310 + tb);
      check_close(vlm::matmul(dev(a), dev(b), ta, tb), vlm::matmul(a, b, ta, tb), gemm_rtol<T>,
                  "batched ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    }
  // batch dimension that is not outermost in memory
  auto a = rand_t<T>({17, 4, 33}, 320), b = rand_t<T>({4, 33, 9}, 321);
  check_close(vlm::matmul(dev(a).transpose(0, 1), dev(b)), vlm::matmul(a.transpose(0, 1), b), gemm_rtol<T>,
              "batched, permuted batch");
}

TEST_CASE("cuda gemm_into with alpha and beta", "[cuda]") {
  VLM_REQUIRE_CUDA_DEVICE();
  auto a = rand_t<float>({97, 17}, 400), b = rand_t<float>({129, 17}, 401), c = rand_t<float>({97, 129}, 402);
  auto dc = dev(c);
  vlm::gemm_into(c, a, b, false, true, 0.5f, -2.f);
  vlm::gemm_into(dc, dev(a), dev(b), false, true, 0.5f, -2.f);
  check_close(dc, c, 1e-4, "gemm_into alpha 0.5 beta -2");
}

TEMPLATE_TEST_CASE("cuda linear", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  for (std::int64_t M : {1, 17, 129}) {
    auto x = rand_t<T>({M, 97}, 500), w = rand_t<T>({129, 97}, 501), bias = rand_t<T>({129}, 502);
    const std::string tag = " M=" + std::to_string(M);
    check_close(vlm::linear(dev(x), dev(w), dev(bias)), vlm::linear(x, w, bias), gemm_rtol<T>, "linear+bias" + tag);
    check_close(vlm::linear(dev(x), dev(w)), vlm::linear(x, w), gemm_rtol<T>, "linear" + tag);
  }
  auto x3 = rand_t<T>({2, 17, 64}, 503), w = rand_t<T>({33, 64}, 504);
  check_close(vlm::linear(dev(x3), dev(w)), vlm::linear(x3, w), gemm_rtol<T>, "linear 3-D input");
  auto xt = rand_t<T>({64, 17}, 505);
  check_close(vlm::linear(dev(xt).transpose(0, 1), dev(w)), vlm::linear(xt.transpose(0, 1), w), gemm_rtol<T>,
              "linear transposed input");
}

namespace {
// Runs cpu and cuda attention on the same q, k, v and mask; compares out and probs.
template <class T>
void check_attention(std::int64_t B, std::int64_t Sq, std::int64_t Sk, std::int64_t H, std::int64_t Hkv,
                     std::int64_t D, const vlm::attention_mask& mask, const std::string& what, std::uint32_t seed) {
  auto q = rand_t<T>({B, Sq, H, D}, seed), k = rand_t<T>({B, Sk, Hkv, D}, seed + 1);
  auto v = rand_t<T>({B, Sk, Hkv, D}, seed + 2);
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  tensor<float, cpu> hp;
  tensor<float, vlm::cuda> dp;
  auto ho = vlm::attention(q, k, v, mask, scale, &hp);
  auto dout = vlm::attention(dev(q), dev(k), dev(v), mask, scale, &dp);
  check_close(dout, ho, gemm_rtol<T>, what + " out");
  check_close(dp, hp, std::is_same_v<T, float> ? 1e-4 : 1e-2, what + " probs");
}
}  // namespace

TEMPLATE_TEST_CASE("cuda attention: plain, causal, GQA, padding, segments", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  vlm::attention_mask none;
  check_attention<T>(2, 17, 17, 4, 4, 64, none, "plain", 600);
  vlm::attention_mask causal;
  causal.causal = true;
  check_attention<T>(1, 97, 97, 4, 2, 64, causal, "causal GQA", 610);
  check_attention<T>(1, 1, 1, 2, 1, 128, causal, "single token", 620);
  vlm::attention_mask decode;  // 5 new queries after 12 cached keys
  decode.causal = true;
  decode.q_offset = 12;
  check_attention<T>(2, 5, 17, 6, 2, 80, decode, "causal q_offset", 630);
  vlm::attention_mask pad;
  pad.causal = true;
  pad.key_valid = tensor<std::uint8_t, cpu>::zeros({2, 17});
  for (std::int64_t j = 0; j < 17; ++j) {
    pad.key_valid.data()[j] = 1;                   // batch 0: all keys valid
    pad.key_valid.data()[17 + j] = j >= 4 ? 1 : 0;  // batch 1: left padding of 4 (rows 0..3 see nothing)
  }
  check_attention<T>(2, 17, 17, 2, 1, 64, pad, "key_valid left padding", 640);
  vlm::attention_mask seg;
  seg.cu_seqlens = {0, 16, 16, 33, 97, 129};  // includes an empty segment
  check_attention<T>(1, 129, 129, 4, 4, 80, seg, "cu_seqlens segments", 650);
  seg.causal = true;
  check_attention<T>(1, 129, 129, 4, 2, 80, seg, "causal segments", 660);
}

TEST_CASE("cuda attention_backward", "[cuda]") {
  VLM_REQUIRE_CUDA_DEVICE();
  struct cfg {
    std::int64_t B, Sq, Sk, H, Hkv, D;
    bool causal;
    std::int64_t q_offset;
    std::vector<std::int32_t> cu;
  };
  const cfg cases[] = {{2, 17, 17, 4, 2, 64, true, 0, {}},
                       {1, 5, 17, 4, 1, 32, true, 12, {}},
                       {1, 97, 97, 2, 2, 80, false, 0, {0, 40, 97}}};
  std::uint32_t seed = 700;
  for (const auto& c : cases) {
    vlm::attention_mask m;
    m.causal = c.causal;
    m.q_offset = c.q_offset;
    m.cu_seqlens = c.cu;
    auto q = rand_t<float>({c.B, c.Sq, c.H, c.D}, seed++), k = rand_t<float>({c.B, c.Sk, c.Hkv, c.D}, seed++);
    auto v = rand_t<float>({c.B, c.Sk, c.Hkv, c.D}, seed++), go = rand_t<float>({c.B, c.Sq, c.H, c.D}, seed++);
    const float scale = 1.f / std::sqrt(static_cast<float>(c.D));
    tensor<float, cpu> hp, hdq, hdk, hdv;
    tensor<float, vlm::cuda> dp, ddq, ddk, ddv;
    vlm::attention(q, k, v, m, scale, &hp);
    vlm::attention(dev(q), dev(k), dev(v), m, scale, &dp);
    vlm::attention_backward(q, k, v, hp, m, scale, go, hdq, hdk, hdv);
    vlm::attention_backward(dev(q), dev(k), dev(v), dp, m, scale, dev(go), ddq, ddk, ddv);
    const std::string tag = " Sq=" + std::to_string(c.Sq) + " Sk=" + std::to_string(c.Sk);
    check_close(ddq, hdq, 1e-4, "dq" + tag);
    check_close(ddk, hdk, 1e-4, "dk" + tag);
    check_close(ddv, hdv, 1e-4, "dv" + tag);
  }
}

TEMPLATE_TEST_CASE("cuda rotary forward and backward", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  for (std::int64_t D : {2, 64, 80, 128}) {
    const std::int64_t N = 97, H = 3, half = D / 2;
    // a real rope table: halves repeat, angle = pos * theta^(-2i/D)
    std::vector<float> c(static_cast<std::size_t>(N * D)), s(c.size());
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < half; ++i) {
        const float ang = static_cast<float>(n) * std::pow(10000.f, -2.f * static_cast<float>(i) / static_cast<float>(D));
        for (std::int64_t j : {i, i + half}) {
          c[static_cast<std::size_t>(n * D + j)] = std::cos(ang);
          s[static_cast<std::size_t>(n * D + j)] = std::sin(ang);
        }
      }
    auto hc = tensor<float, cpu>::from_host({N, D}, std::span<const float>(c));
    auto hs = tensor<float, cpu>::from_host({N, D}, std::span<const float>(s));
    auto x = rand_t<T>({N, H, D}, 800);
    const std::string tag = " D=" + std::to_string(D);
    check_close(vlm::apply_rotary(dev(x), dev(hc), dev(hs)), vlm::apply_rotary(x, hc, hs), "rotary" + tag);
    check_close(vlm::apply_rotary_backward(dev(x), dev(hc), dev(hs)), vlm::apply_rotary_backward(x, hc, hs),
                "rotary backward" + tag);
    // strided input: [H, N, D] transposed to [N, H, D]
    auto xt = rand_t<T>({H, N, D}, 801);
    check_close(vlm::apply_rotary(dev(xt).transpose(0, 1), dev(hc), dev(hs)),
                vlm::apply_rotary(xt.transpose(0, 1), hc, hs), "rotary strided" + tag);
  }
}

TEMPLATE_TEST_CASE("cuda embedding gather and scatter-add", "[cuda]", (std::pair<float, std::int64_t>),
                   (std::pair<bf16, std::int64_t>), (std::pair<float, std::int32_t>)) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = typename TestType::first_type;
  using I = typename TestType::second_type;
  const std::int64_t V = 129, C = 97;
  auto w = rand_t<T>({V, C}, 900);
  std::vector<I> ids_v = {0, 5, 128, 5, 5, 17, 0, 64, 127, 5, 3, 1, 2, 128, 9, 9, 100};  // 17 ids, repeats
  auto ids = tensor<I, cpu>::from_host({17}, std::span<const I>(ids_v));
  check_close(vlm::embedding(dev(w), dev(ids)), vlm::embedding(w, ids), 0.0, "embedding");
  auto ids2 = ids.view({1, 17});
  check_close(vlm::embedding(dev(w), dev(ids2)), vlm::embedding(w, ids2), 0.0, "embedding 2-D ids");
  auto dy = rand_t<T>({17, C}, 901);
  auto hdw = rand_t<T>({V, C}, 902);
  auto ddw = dev(hdw);
  vlm::embedding_backward(dy, ids, hdw);
  vlm::embedding_backward(dev(dy), dev(ids), ddw);
  // bf16: repeated ids round after each atomic add, in a different order than the CPU loop.
  check_close(ddw, hdw, std::is_same_v<T, float> ? 1e-5 : 5e-2, "embedding_backward");
  std::vector<I> bad_v = {1, 2, static_cast<I>(V)};
  auto bad = tensor<I, cpu>::from_host({3}, std::span<const I>(bad_v));
  CHECK_THROWS_WITH(vlm::embedding(dev(w), dev(bad)), Catch::Contains("token id 129 at position 2"));
}

TEMPLATE_TEST_CASE("cuda cross_entropy forward and backward", "[cuda]", float, bf16) {
  VLM_REQUIRE_CUDA_DEVICE();
  using T = TestType;
  for (std::int64_t V : {1, 17, 1000, 151936}) {
    const std::int64_t N = 17;
    auto logits = rand_t<T>({N, V}, 1000, -10.f, 10.f);
    std::vector<std::int64_t> lv(static_cast<std::size_t>(N));
    for (std::int64_t n = 0; n < N; ++n) lv[static_cast<std::size_t>(n)] = n % 4 == 3 ? vlm::ignore_index : (n * 7919) % V;
    auto labels = tensor<std::int64_t, cpu>::from_host({N}, std::span<const std::int64_t>(lv));
    const std::string tag = " V=" + std::to_string(V);
    auto hr = vlm::cross_entropy(logits, labels);
    auto dr = vlm::cross_entropy(dev(logits), dev(labels));
    CHECK(dr.count == hr.count);
    check_near(dr.loss, hr.loss, 1e-5, "cross_entropy" + tag);
    auto hr2 = vlm::cross_entropy(logits, labels, 100.0);
    auto dr2 = vlm::cross_entropy(dev(logits), dev(labels), 100.0);
    check_near(dr2.loss, hr2.loss, 1e-5, "cross_entropy divisor" + tag);
    check_close(vlm::cross_entropy_backward(dev(logits), dev(labels), 13.0, 0.5f),
                vlm::cross_entropy_backward(logits, labels, 13.0, 0.5f), "cross_entropy_backward" + tag);
  }
  auto logits = rand_t<T>({2, 5}, 1001);
  auto bad = tensor<std::int64_t, cpu>::from_host({2}, {1, 7});
  CHECK_THROWS_WITH(vlm::cross_entropy(dev(logits), dev(bad)), Catch::Contains("label 7 at row 1"));
}
