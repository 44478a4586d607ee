// GEMM on the CPU: Eigen's single-threaded kernels, split across the passive thread pool.
//   gemm_into(c, a, b, trans_a, trans_b, alpha, beta): c = alpha * op(a) op(b) + beta * c
//   matmul(a, b, trans_a, trans_b): 2-D [M,K]x[K,N] or batched 3-D [B,M,K]x[B,K,N]
//   linear(x, w, bias): y = x w^T + b, x [..., K], w [N, K] (PyTorch's Linear layout)
// bf16/f16 operands are widened to f32 panel by panel and accumulated in f32.
// Why split ourselves: Eigen threads only through OpenMP (a spinning pool) and never threads
// matrix-vector products, which is all of decoding. Work is cut into blocks of output columns
// (rows of w) handed out one at a time (dynamic_for), so a GEMV reads each weight byte exactly
// once across all threads, and a thread that starts late on a busy core takes fewer blocks
// instead of holding the others up. Measurements: docs/performance.md ("CPU GEMM").
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
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

// Runs fn(begin, end) over [0, n) in blocks of about n / (4 x threads) (at least `grain`, a
// multiple of 16), handed out dynamically to the pool's threads. Each index is covered by
// exactly one call, so results do not depend on which thread ran what.
template <class F>
inline void dynamic_for(std::int64_t n, std::int64_t grain, F&& fn) {
  if (n <= 0) return;
  const std::int64_t threads = thread_pool::global().size();
  std::int64_t block = std::max(grain, (n + 4 * threads - 1) / (4 * threads));
  block = (block + 15) / 16 * 16;
  const std::int64_t blocks = (n + block - 1) / block;
  if (blocks <= 1 || threads <= 1) {
    fn(std::int64_t{0}, n);
    return;
  }
  std::atomic<std::int64_t> next{0};
  parallel_for(std::min(blocks, threads), 1, [&](std::int64_t, std::int64_t) {
    for (std::int64_t i = next.fetch_add(1); i < blocks; i = next.fetch_add(1))
      fn(i * block, std::min(n, (i + 1) * block));
  });
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
    dynamic_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
      const float* b = tb ? B + n0 * ldb : B + n0;
      sgemm_block(ta, tb, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
    });
  } else {
    dynamic_for(M, 64, [&](std::int64_t m0, std::int64_t m1) {
      const float* a = ta ? A + m0 : A + m0 * lda;
      sgemm_block(ta, tb, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
    });
  }
}

template <class T>
inline void widen(const T* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

// y[m, n] = sum_k x[m, k] * w[n, k] for a few rows m, one weight row at a time: the portable
// path, and the tail of the vector path below.
template <class W>
inline void gemv_rows_scalar(const float* x, std::int64_t M, std::int64_t K, const W* w, std::int64_t n0,
                             std::int64_t n1, float* y, std::int64_t ldy) {
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

#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
// 8-float vectors (GCC/Clang vector extensions: AVX on x86, two NEON registers on ARM).
// The _u types load from any address and may alias float / bf16 data.
using v8f = float __attribute__((vector_size(32)));
using v8f_u = float __attribute__((vector_size(32), aligned(4), may_alias));
using v8u16_u = std::uint16_t __attribute__((vector_size(16), aligned(2), may_alias));
using v8u32 = std::uint32_t __attribute__((vector_size(32)));

// v = p[0..8) as floats. (An out-parameter: returning a 32-byte vector by value draws an ABI
// warning from GCC when AVX is not enabled.)
template <class W>
inline void load8(const W* p, v8f& v) {
  if constexpr (std::is_same_v<W, float>) {
    v = *reinterpret_cast<const v8f_u*>(p);
  } else if constexpr (std::is_same_v<W, bf16>) {  // bf16 is the top half of a float
    v8u32 u = __builtin_convertvector(*reinterpret_cast<const v8u16_u*>(p), v8u32) << 16;
    v = (v8f)u;  // same bits, read as floats
  } else {
    for (int j = 0; j < 8; ++j) v[j] = static_cast<float>(p[j]);
  }
}

// The decode kernel. Eight weight rows at a time, each with its own vector accumulator: eight
// independent FMA chains (one chain is latency-bound at about half the memory bandwidth), and
// each load of x serves eight rows. For M > 1 the eight rows are re-read from L1/L2 per row of x.
template <class W>
inline void gemv_rows(const float* x, std::int64_t M, std::int64_t K, const W* w, std::int64_t n0, std::int64_t n1,
                      float* y, std::int64_t ldy) {
  constexpr int R = 8;
  std::int64_t n = n0;
  for (; n + R <= n1; n += R) {
    const W* wr = w + n * K;
    for (std::int64_t m = 0; m < M; ++m) {
      const float* xr = x + m * K;
      v8f acc[R] = {};
      std::int64_t k = 0;
      for (; k + 8 <= K; k += 8) {
        v8f xv, wv;
        load8(xr + k, xv);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          load8(wr + r * K + k, wv);
          acc[r] += xv * wv;
        }
      }
      for (int r = 0; r < R; ++r) {
        const v8f a = acc[r];
        float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        for (std::int64_t kk = k; kk < K; ++kk) s += xr[kk] * static_cast<float>(wr[r * K + kk]);
        y[m * ldy + n + r] = s;
      }
    }
  }
  gemv_rows_scalar(x, M, K, w, n, n1, y, ldy);
}
#else
template <class W>
inline void gemv_rows(const float* x, std::int64_t M, std::int64_t K, const W* w, std::int64_t n0, std::int64_t n1,
                      float* y, std::int64_t ldy) {
  gemv_rows_scalar(x, M, K, w, n0, n1, y, ldy);
}
#endif

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
  std::unique_ptr<float[]> x32, y32;  // uninitialised: every element is written before it is read
  const float* xf;
  float* yf;
  if constexpr (std::is_same_v<T, float>) {
    xf = xc.data();
    yf = y.data();
  } else {
    x32.reset(new float[static_cast<std::size_t>(M * K)]);
    cpu_detail::widen(xc.data(), x32.get(), M * K);
    xf = x32.get();
    y32.reset(new float[static_cast<std::size_t>(M * N)]);
    yf = y32.get();
  }

  // Bias and the rounding to T for output columns [n0, n1), run by the block that computed them.
  const T* bp = nullptr;
  tensor<T, cpu> bc;
  if (bias.defined()) {
    bc = bias.contiguous();
    bp = bc.data();
  }
  auto epilogue = [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t m = 0; m < M; ++m) {
      float* yr = yf + m * N;
      if (bp)
        for (std::int64_t n = n0; n < n1; ++n) yr[n] += static_cast<float>(bp[n]);
      if constexpr (!std::is_same_v<T, float>)
        for (std::int64_t n = n0; n < n1; ++n) y.data()[m * N + n] = T(yr[n]);
    }
  };

  if (M <= 4) {  // decode: stream the weights once, split over output features
    cpu_detail::dynamic_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
      cpu_detail::gemv_rows(xf, M, K, wc.data(), n0, n1, yf, N);
      epilogue(n0, n1);
    });
  } else if constexpr (std::is_same_v<T, float>) {
    if (2.0 * double(M) * double(N) * double(K) < 2e5) {  // tiny: one thread
      cpu_detail::sgemm_block(false, true, M, N, K, 1.f, xf, K, wc.data(), K, 0.f, yf, N);
      epilogue(0, N);
    } else {
      cpu_detail::dynamic_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
        cpu_detail::sgemm_block(false, true, M, n1 - n0, K, 1.f, xf, K, wc.data() + n0 * K, K, 0.f, yf + n0, N);
        epilogue(n0, n1);
      });
    }
  } else {
    // Widen a panel of weight rows (at most 256, about 1 MiB), then an f32 GEMM on that panel.
    cpu_detail::dynamic_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
      const std::int64_t panel = std::min<std::int64_t>(256, std::max<std::int64_t>(16, (1 << 18) / K));
      std::unique_ptr<float[]> w32(new float[static_cast<std::size_t>(std::min(panel, n1 - n0) * K)]);
      for (std::int64_t p = n0; p < n1; p += panel) {
        std::int64_t rows = std::min(panel, n1 - p);
        cpu_detail::widen(wc.data() + p * K, w32.get(), rows * K);
        cpu_detail::sgemm_block(false, true, M, rows, K, 1.f, xf, K, w32.get(), K, 0.f, yf + p, N);
      }
      epilogue(n0, n1);
    });
  }
  return y;
}

}  // namespace vlm
