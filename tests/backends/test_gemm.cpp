// GEMM, matmul and linear on the CPU against naive double loops: every transpose combination,
// M in {1, 3, 17, 129} (M <= 4 takes linear's threaded GEMV path, larger M the split GEMM),
// awkward N and K, non-contiguous operands (transposed views, padded rows), bf16 with f32
// accumulation.
#include <catch2/catch.hpp>
#include <cmath>
#include <vlm/backends/cpu.hpp>

#include "../common/random_tensor.hpp"
#include "../common/tolerance.hpp"

using vlm::bf16;
using vlm::tensor;
using namespace vlm_test;

namespace {

// C[M,N] = alpha * op(A) op(B) + beta * C0; A stored [ar, ac] row-major, B [br, bc].
std::vector<double> ref_gemm(const std::vector<double>& a, std::int64_t ac, bool ta, const std::vector<double>& b,
                             std::int64_t bc, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha = 1,
                             const std::vector<double>* c0 = nullptr, double beta = 0) {
  std::vector<double> c(static_cast<std::size_t>(M * N));
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        double av = ta ? a[static_cast<std::size_t>(k * ac + m)] : a[static_cast<std::size_t>(m * ac + k)];
        double bv = tb ? b[static_cast<std::size_t>(n * bc + k)] : b[static_cast<std::size_t>(k * bc + n)];
        s += av * bv;
      }
      double v = alpha * s;
      if (c0 && beta != 0) v += beta * (*c0)[static_cast<std::size_t>(m * N + n)];
      c[static_cast<std::size_t>(m * N + n)] = v;
    }
  return c;
}

enum class layout { contiguous, transposed, padded };
template <class T>
tensor<T> with_layout(const tensor<T>& t, layout l) {
  switch (l) {
    case layout::transposed: return transposed_layout(t);
    case layout::padded: return padded_layout(t, 5);
    default: return t;
  }
}
const char* name(layout l) { return l == layout::contiguous ? "contiguous" : l == layout::transposed ? "transposed" : "padded"; }

}  // namespace

TEST_CASE("gemm_into: every transpose, size and operand layout against double loops", "[cpu][gemm]") {
  rng r(11);
  int variant = 0;
  for (std::int64_t M : {1, 3, 17, 129})
    for (std::int64_t N : {1, 17, 97})
      for (std::int64_t K : {1, 17, 129})
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            const layout la = layout(variant % 3), lb = layout((variant / 3) % 3);
            const bool padded_c = variant % 5 == 0;
            const float alpha = variant % 2 ? 1.f : 0.75f, beta = variant % 4 == 1 ? -0.5f : 0.f;
            ++variant;
            auto a = randn<float>(r, ta ? vlm::shape{K, M} : vlm::shape{M, K});
            auto b = randn<float>(r, tb ? vlm::shape{N, K} : vlm::shape{K, N});
            auto c0 = randn<float>(r, {M, N});
            auto c_buf = tensor<float>::full({M, N + 4}, 42.f);
            auto c = padded_c ? c_buf.narrow(1, 2, N) : c0.clone();
            if (padded_c) vlm::copy_into(c, c0);
            INFO("M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " a " << name(la)
                      << " b " << name(lb) << " alpha=" << alpha << " beta=" << beta << " padded c=" << padded_c);
            vlm::gemm_into(c, with_layout(a, la), with_layout(b, lb), ta, tb, alpha, beta);
            auto c0d = to_double(c0);
            VLM_CHECK_CLOSE("c", c, ref_gemm(to_double(a), a.size(1), ta, to_double(b), b.size(1), tb, M, N, K, alpha, &c0d, beta));
            if (padded_c) {  // the columns around the view are untouched
              CHECK(c_buf.at({M - 1, 0}) == 42.f);
              CHECK(c_buf.at({M - 1, 1}) == 42.f);
              CHECK(c_buf.at({0, N + 2}) == 42.f);
              CHECK(c_buf.at({0, N + 3}) == 42.f);
            }
          }
}

TEST_CASE("gemm_into rejects mismatched shapes", "[cpu][gemm]") {
  auto a = tensor<float>::zeros({3, 4}), b = tensor<float>::zeros({5, 6}), c = tensor<float>::zeros({3, 6});
  CHECK_THROWS_AS(vlm::gemm_into(c, a, b, false, false), vlm::shape_error);
  CHECK_THROWS_WITH(vlm::gemm_into(c, a, b, false, false), Catch::Contains("op(a) [3, 4]"));
}

TEMPLATE_TEST_CASE("matmul: 2-D and batched 3-D with transposes, against double loops", "[cpu][gemm]", float, bf16) {
  using T = TestType;
  rng r(12);
  int variant = 0;
  for (std::int64_t M : {1, 3, 17, 129})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const std::int64_t N = variant % 2 ? 97 : 17, K = variant % 3 ? 129 : 17;
        const layout la = layout(variant % 3);
        ++variant;
        INFO("M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " a " << name(la));
        auto a = randn<T>(r, ta ? vlm::shape{K, M} : vlm::shape{M, K});
        auto b = randn<T>(r, tb ? vlm::shape{N, K} : vlm::shape{K, N});
        auto c = vlm::matmul(with_layout(a, la), b, ta, tb);
        REQUIRE(c.shape() == vlm::shape{M, N});
        VLM_CHECK_CLOSE("matmul", c, ref_gemm(to_double(a), a.size(1), ta, to_double(b), b.size(1), tb, M, N, K));

        // Batched: a is a permuted (non-contiguous) view of a [rows, B, cols] buffer.
        const std::int64_t B = 3;
        const std::int64_t ar = ta ? K : M, acol = ta ? M : K;
        auto a3_buf = randn<T>(r, {ar, B, acol});
        auto a3 = a3_buf.permute({1, 0, 2});
        auto b3 = randn<T>(r, tb ? vlm::shape{B, N, K} : vlm::shape{B, K, N});
        auto c3 = vlm::matmul(a3, b3, ta, tb);
        REQUIRE(c3.shape() == vlm::shape{B, M, N});
        for (std::int64_t i = 0; i < B; ++i) {
          INFO("batch " << i);
          VLM_CHECK_CLOSE("batched matmul", c3.select(0, i),
                          ref_gemm(to_double(a3.select(0, i)), acol, ta, to_double(b3.select(0, i)), b3.size(2), tb, M, N, K));
        }
      }
}

TEMPLATE_TEST_CASE("linear: GEMV (M <= 4) and GEMM paths, with and without bias, against double loops",
                   "[cpu][gemm]", float, bf16) {
  using T = TestType;
  rng r(13);
  int variant = 0;
  for (std::int64_t M : {1, 3, 4, 5, 17, 129})
    for (bool with_bias : {false, true})
      for (bool batched : {false, true}) {
        const std::int64_t K = variant % 5 == 4 ? 5 : variant % 2 ? 129 : 17;  // 5: no full 8-wide block
        const std::int64_t N = variant % 3 == 0 ? 1 : variant % 3 == 1 ? 97 : 300;  // 300: several GEMV chunks
        const layout lx = layout(variant % 3 == 2 ? 0 : variant % 3), lw = variant % 4 == 3 ? layout::transposed : layout::padded;
        ++variant;
        INFO("M=" << M << " N=" << N << " K=" << K << " bias=" << with_bias << " batched=" << batched << " x "
                  << name(lx) << " w " << name(lw));
        auto x = randn<T>(r, batched ? vlm::shape{2, M, K} : vlm::shape{M, K});
        auto w = randn<T>(r, {N, K}, 0.2);
        auto b = with_bias ? randn<T>(r, {N}) : tensor<T>{};
        auto y = vlm::linear(with_layout(x, lx), with_layout(w, lw), b);
        const std::int64_t rows = x.numel() / K;
        auto want = ref_gemm(to_double(x), K, false, to_double(w), K, true, rows, N, K);
        if (with_bias) {
          auto bd = to_double(b);
          for (std::int64_t m = 0; m < rows; ++m)
            for (std::int64_t n = 0; n < N; ++n) want[static_cast<std::size_t>(m * N + n)] += bd[static_cast<std::size_t>(n)];
        }
        REQUIRE(y.shape() == (batched ? vlm::shape{2, M, N} : vlm::shape{M, N}));
        VLM_CHECK_CLOSE("linear", y, want);
      }
}

TEST_CASE("bf16 linear and matmul accumulate in f32", "[cpu][gemm]") {
  // y = 1 + 256 * 2^-9 = 1.5 exactly with f32 accumulation; a bf16 accumulator would stay at 1
  // (1 + 2^-9 rounds back to 1 in bf16, whose spacing at 1 is 2^-7).
  const std::int64_t K = 257, N = 3;
  std::vector<bf16> wv(static_cast<std::size_t>(N * K), bf16(0.f));
  for (std::int64_t n = 0; n < N; ++n) {
    wv[static_cast<std::size_t>(n * K)] = bf16(1.f);
    for (std::int64_t k = 1; k < K; ++k) wv[static_cast<std::size_t>(n * K + k)] = bf16(std::ldexp(1.f, -9));
  }
  auto w = tensor<bf16>::from_host({N, K}, wv);
  for (std::int64_t M : {1, 8}) {  // GEMV path and GEMM path
    INFO("M=" << M);
    auto x = tensor<bf16>::full({M, K}, bf16(1.f));
    auto y = vlm::linear(x, w);
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t n = 0; n < N; ++n) CHECK(static_cast<float>(y.at({m, n})) == 1.5f);
    auto c = vlm::matmul(x, w, false, true);
    CHECK(static_cast<float>(c.at({M - 1, N - 1})) == 1.5f);
  }
}

TEST_CASE("linear rejects a weight of the wrong width and a bias of the wrong length", "[cpu][gemm]") {
  auto x = tensor<float>::zeros({2, 5});
  CHECK_THROWS_AS(vlm::linear(x, tensor<float>::zeros({3, 4})), vlm::shape_error);
  CHECK_THROWS_WITH(vlm::linear(x, tensor<float>::zeros({3, 5}), tensor<float>::zeros({4})), Catch::Contains("bias [4]"));
}
