// GEMM on the CPU: Eigen's single-threaded kernels, split across the passive thread pool.
//   gemm_into(c, a, b, trans_a, trans_b, alpha, beta): c = alpha * op(a) op(b) + beta * c
//   matmul(a, b, trans_a, trans_b): 2-D [M,K]x[K,N] or batched 3-D [B,M,K]x[B,K,N]
//   linear(x, w, bias): y = x w^T + b, x [..., K], w [N, K] (PyTorch's Linear layout)
// bf16/f16 operands are widened to f32 panel by panel and accumulated in f32.
// Why split ourselves: Eigen threads only through OpenMP (a spinning pool) and never threads
// matrix-vector products, which is all of decoding. Each thread takes a block of output
// columns (rows of w), so a GEMV reads each weight byte exactly once across all threads.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "vlm/backends/cpu/elementwise.hpp"
#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm::cpu_detail {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using cmap = Eigen::Map<const row_major, 0, Eigen::OuterStride<>>;
using mmap = Eigen::Map<row_major, 0, Eigen::OuterStride<>>;

// Single-threaded f32 block: C[M,N] = alpha*op(A)op(B) + beta*C (row-major, leading dims given).
inline void sgemm_block(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                        const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                        std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  mmap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == 0.f) c.setZero(); else c *= beta;
    return;
  }
  cmap a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
  cmap b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  auto product = [&](auto&& opa, auto&& opb) {
    if (beta == 0.f) c.noalias() = alpha * (opa * opb);
    else { c *= beta; c.noalias() += alpha * (opa * opb); }
  };
  if (!ta && !tb) product(a, b);
  else if (!ta && tb) product(a, b.transpose());
  else if (ta && !tb) product(a.transpose(), b);
  else product(a.transpose(), b.transpose());
}

// Multi-threaded f32 GEMM: splits the larger of M and N across the pool.
inline void sgemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                  std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  if (flops < 2e5) {  // too small to be worth a wake-up
    sgemm_block(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (N >= M) {
    parallel_for(N, 16, [&](std::int64_t n0, std::int64_t n1) {
      const float* b = tb ? B + n0 * ldb : B + n0;
      sgemm_block(ta, tb, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
    });
  } else {
    parallel_for(M, 16, [&](std::int64_t m0, std::int64_t m1) {
      const float* a = ta ? A + m0 : A + m0 * lda;
      sgemm_block(ta, tb, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
    });
  }
}

template <class T>
inline void widen(const T* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

// y[m, n] = sum_k x[m, k] * w[n, k] for a few rows m: a dot-product loop that streams w once.
// Used for decode-shaped products (M small), where GEMM packing would cost more than it saves.
template <class W>
inline void gemv_rows(const float* x, std::int64_t M, std::int64_t K, const W* w, std::int64_t n0, std::int64_t n1,
                      float* y, std::int64_t ldy) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const W* wr = w + n * K;
    for (std::int64_t m = 0; m < M; ++m) {
      const float* xr = x + m * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += xr[k + j] * static_cast<float>(wr[k + j]);
      float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; k < K; ++k) s += xr[k] * static_cast<float>(wr[k]);
      y[m * ldy + n] = s;
    }
  }
}

}  // namespace vlm::cpu_detail

namespace vlm {

// c = alpha * op(a) op(b) + beta * c; all 2-D f32, c contiguous.
// requires: op(a) [M,K], op(b) [K,N], c [M,N]; a, b with unit inner stride.
inline void gemm_into(tensor<float, cpu>& c, const tensor<float, cpu>& a, const tensor<float, cpu>& b, bool trans_a,
                      bool trans_b, float alpha = 1.f, float beta = 0.f) {
  VLM_CHECK_AS(shape_error, a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "gemm needs 2-D tensors, got ",
               a.shape().str(), " ", b.shape().str(), " ", c.shape().str());
  auto ac = a.stride(1) == 1 ? a : a.contiguous();
  auto bc = b.stride(1) == 1 ? b : b.contiguous();
  const std::int64_t M = trans_a ? a.size(1) : a.size(0), K = trans_a ? a.size(0) : a.size(1);
  const std::int64_t Kb = trans_b ? b.size(1) : b.size(0), N = trans_b ? b.size(0) : b.size(1);
  VLM_CHECK_AS(shape_error, K == Kb && c.size(0) == M && c.size(1) == N, "gemm shapes: op(a) [", M, ", ", K,
               "], op(b) [", Kb, ", ", N, "], c ", c.shape().str());
  VLM_CHECK_AS(shape_error, c.stride(1) == 1, "gemm output needs unit inner stride");
  cpu_detail::sgemm(trans_a, trans_b, M, N, K, alpha, ac.data(), ac.stride(0), bc.data(), bc.stride(0), beta,
                    c.data(), c.stride(0));
}

// Matrix product with f32 accumulation: [M,K]x[K,N] or batched [B,M,K]x[B,K,N].
template <class T>
tensor<T, cpu> matmul(const tensor<T, cpu>& a, const tensor<T, cpu>& b, bool trans_a = false, bool trans_b = false) {
  if constexpr (std::is_same_v<T, float>) {
    if (a.dim() == 2) {
      auto c = tensor<float, cpu>::empty({trans_a ? a.size(1) : a.size(0), trans_b ? b.size(0) : b.size(1)});
      gemm_into(c, a, b, trans_a, trans_b);
      return c;
    }
    VLM_CHECK_AS(shape_error, a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0),
                 "batched matmul needs [B,M,K]x[B,K,N], got ", a.shape().str(), " x ", b.shape().str());
    const std::int64_t B = a.size(0);
    auto c = tensor<float, cpu>::empty({B, trans_a ? a.size(2) : a.size(1), trans_b ? b.size(1) : b.size(2)});
    for (std::int64_t i = 0; i < B; ++i) {
      auto ci = c.select(0, i);
      gemm_into(ci, a.select(0, i), b.select(0, i), trans_a, trans_b);
    }
    return c;
  } else {
    // Half types: widen, multiply in f32, round once at the end.
    return cast<T>(matmul(cast<float>(a), cast<float>(b), trans_a, trans_b));
  }
}

// y = x w^T + bias. x [..., K] (any T), w [N, K], bias [N] or undefined. Output T, f32 accumulation.
template <class T>
tensor<T, cpu> linear(const tensor<T, cpu>& x, const tensor<T, cpu>& w, const tensor<T, cpu>& bias = {}) {
  const std::int64_t K = x.size(-1), N = w.size(0);
  VLM_CHECK_AS(shape_error, w.dim() == 2 && w.size(1) == K, "linear: input ", x.shape().str(), " and weight ",
               w.shape().str(), " (expected [out, ", K, "])");
  VLM_CHECK_AS(shape_error, !bias.defined() || (bias.dim() == 1 && bias.size(0) == N), "linear: bias ",
               bias.shape().str(), ", expected [", N, "]");
  auto xc = x.contiguous();
  auto wc = w.contiguous();
  const std::int64_t M = x.numel() / K;
  vlm::shape out_shape = x.shape();
  out_shape[-1] = N;
  auto y = tensor<T, cpu>::empty(out_shape);

  // f32 copies of x (and y, for half types) so that every path below accumulates in f32.
  std::vector<float> x32, y32;
  const float* xf;
  float* yf;
  if constexpr (std::is_same_v<T, float>) {
    xf = xc.data();
    yf = y.data();
  } else {
    x32.resize(static_cast<std::size_t>(M * K));
    cpu_detail::widen(xc.data(), x32.data(), M * K);
    xf = x32.data();
    y32.resize(static_cast<std::size_t>(M * N));
    yf = y32.data();
  }

  if (M <= 4) {  // decode: stream the weights once, split over output features
    cpu_detail::parallel_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
      cpu_detail::gemv_rows(xf, M, K, wc.data(), n0, n1, yf, N);
    });
  } else if constexpr (std::is_same_v<T, float>) {
    cpu_detail::sgemm(false, true, M, N, K, 1.f, xf, K, wc.data(), K, 0.f, yf, N);
  } else {
    // Widen a panel of weight rows per thread, then an f32 GEMM on that panel.
    cpu_detail::parallel_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
      constexpr std::int64_t panel = 256;
      std::vector<float> w32(static_cast<std::size_t>(panel * K));
      for (std::int64_t p = n0; p < n1; p += panel) {
        std::int64_t rows = std::min(panel, n1 - p);
        cpu_detail::widen(wc.data() + p * K, w32.data(), rows * K);
        cpu_detail::sgemm_block(false, true, M, rows, K, 1.f, xf, K, w32.data(), K, 0.f, yf + p, N);
      }
    });
  }
  if (bias.defined()) {
    auto bc = bias.contiguous();
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t n = 0; n < N; ++n) yf[m * N + n] += static_cast<float>(bc.data()[n]);
  }
  if constexpr (!std::is_same_v<T, float>)
    for (std::int64_t i = 0; i < M * N; ++i) y.data()[i] = T(y32[static_cast<std::size_t>(i)]);
  return y;
}

}  // namespace vlm
