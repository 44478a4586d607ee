// GEMM on vlm::cuda through cuBLAS (cublasGemmEx / cublasGemmStridedBatchedEx), same names and
// semantics as backends/cpu/gemm.hpp:
//   gemm_into(c, a, b, trans_a, trans_b, alpha, beta): c = alpha op(a) op(b) + beta c   (2-D)
//   matmul(a, b, trans_a, trans_b): [M,K]x[K,N] or batched [B,M,K]x[B,K,N]
//   linear(x, w, bias): y = x w^T + b, x [..., K], w [N, K]
// Element types f32, bf16, f16; always CUBLAS_COMPUTE_32F (f32 accumulation, one rounding of
// the output) with CUBLAS_DEFAULT_MATH, so f32 GEMMs never silently drop to TF32.
// Row-major tensors map onto column-major cuBLAS by computing C^T = op(B)^T op(A)^T. Operands
// may be transposed views (unit stride on either of the last two dimensions): a view whose
// column stride is 1 is passed as the transpose of a row-major matrix, without a copy.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <limits>
#include <vector>

#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/elementwise.cuh"

namespace vlm {

namespace cuda_detail {

// The calling thread's cuBLAS handle for the current device, created on first use with
// CUBLAS_DEFAULT_MATH (no TF32). Deliberately never destroyed: destroying handles from
// thread_local/static destructors races the CUDA runtime's own teardown at exit.
inline cublasHandle_t cublas_handle() {
  thread_local std::vector<cublasHandle_t> handles;
  int dev = 0;
  VLM_CUDA_CHECK(cudaGetDevice(&dev));
  if (handles.size() <= static_cast<std::size_t>(dev)) handles.resize(static_cast<std::size_t>(dev) + 1, nullptr);
  cublasHandle_t& h = handles[static_cast<std::size_t>(dev)];
  if (!h) {
    VLM_CUDA_CHECK(cublasCreate(&h));
    VLM_CUDA_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  }
  return h;
}

template <class T> inline constexpr cudaDataType_t cuda_dtype_v = CUDA_R_32F;
template <> inline constexpr cudaDataType_t cuda_dtype_v<bf16> = CUDA_R_16BF;
template <> inline constexpr cudaDataType_t cuda_dtype_v<f16> = CUDA_R_16F;

template <class T>
inline constexpr bool gemm_type_v = std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, f16>;

// One row-major operand: pointer, leading dimension, whether cuBLAS must transpose it.
struct gemm_operand {
  const void* ptr;
  std::int64_t ld;
  bool trans;
};

// Row-major C[M,N] (ldc) = alpha op(A)[M,K] op(B)[K,N] + beta C, `batch` times with the given
// element strides. A, B of type TA; C of type TC; f32 compute.
inline void gemm_rm(cudaStream_t s, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, gemm_operand A,
                    gemm_operand B, cudaDataType_t tab, float beta, void* C, std::int64_t ldc, cudaDataType_t tc,
                    std::int64_t batch = 1, std::int64_t stride_a = 0, std::int64_t stride_b = 0,
                    std::int64_t stride_c = 0) {
  if (M == 0 || N == 0 || batch == 0) return;
  constexpr std::int64_t imax = std::numeric_limits<int>::max();
  VLM_CHECK_AS(shape_error, M <= imax && N <= imax && K <= imax && A.ld <= imax && B.ld <= imax && ldc <= imax &&
                                batch <= imax,
               "gemm dimensions exceed cuBLAS's int range: M ", M, " N ", N, " K ", K);
  cublasHandle_t h = cublas_handle();
  VLM_CUDA_CHECK(cublasSetStream(h, s));
  // Column-major view: C^T [N, M] = op(B)^T [N, K] op(A)^T [K, M].
  const cublasOperation_t ob = B.trans ? CUBLAS_OP_T : CUBLAS_OP_N, oa = A.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  // K == 0: cuBLAS still needs lda >= 1.
  const int lda = static_cast<int>(std::max<std::int64_t>(A.ld, 1)), ldb = static_cast<int>(std::max<std::int64_t>(B.ld, 1));
  if (batch == 1) {
    VLM_CUDA_CHECK(cublasGemmEx(h, ob, oa, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
                                B.ptr, tab, ldb, A.ptr, tab, lda, &beta, C, tc, static_cast<int>(ldc),
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    VLM_CUDA_CHECK(cublasGemmStridedBatchedEx(h, ob, oa, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K),
                                              &alpha, B.ptr, tab, ldb, stride_b, A.ptr, tab, lda, stride_a, &beta, C, tc,
                                              static_cast<int>(ldc), stride_c, static_cast<int>(batch),
                                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

// Describes the last two dims [r, c] of t as a row-major operand, or returns false when
// neither dimension has unit stride (the caller then makes t contiguous).
template <class T>
bool as_operand(const tensor<T, cuda>& t, bool trans, gemm_operand& op) {
  const int d = t.dim();
  const std::int64_t r = t.size(d - 2), c = t.size(d - 1), sr = t.stride(d - 2), sc = t.stride(d - 1);
  if (c == 1 || sc == 1) {
    if (r <= 1 || sr >= std::max<std::int64_t>(c, 1)) {
      op = {t.data(), r <= 1 ? std::max<std::int64_t>(c, 1) : sr, trans};
      return true;
    }
  }
  if (r == 1 || sr == 1) {  // t = (row-major [c, r] with ld sc)^T
    if (c <= 1 || sc >= std::max<std::int64_t>(r, 1)) {
      op = {t.data(), c <= 1 ? std::max<std::int64_t>(r, 1) : sc, !trans};
      return true;
    }
  }
  return false;
}

// Operand for t, keeping a contiguous copy alive in `keep` when the strides do not fit.
template <class T>
gemm_operand operand(const tensor<T, cuda>& t, bool trans, tensor<T, cuda>& keep) {
  gemm_operand op;
  if (as_operand(t, trans, op)) return op;
  keep = t.contiguous();
  as_operand(keep, trans, op);
  return op;
}

}  // namespace cuda_detail

// c = alpha * op(a) op(b) + beta * c; all 2-D, same element type, c with unit inner stride.
template <class T>
void gemm_into(tensor<T, cuda>& c, const tensor<T, cuda>& a, const tensor<T, cuda>& b, bool trans_a, bool trans_b,
               float alpha = 1.f, float beta = 0.f, cudaStream_t s = 0) {
  static_assert(cuda_detail::gemm_type_v<T>, "cuda gemm supports float, bf16 and f16");
  VLM_CHECK_AS(shape_error, a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "gemm needs 2-D tensors, got ",
               a.shape().str(), " ", b.shape().str(), " ", c.shape().str());
  const std::int64_t M = trans_a ? a.size(1) : a.size(0), K = trans_a ? a.size(0) : a.size(1);
  const std::int64_t Kb = trans_b ? b.size(1) : b.size(0), N = trans_b ? b.size(0) : b.size(1);
  VLM_CHECK_AS(shape_error, K == Kb && c.size(0) == M && c.size(1) == N, "gemm shapes: op(a) [", M, ", ", K,
               "], op(b) [", Kb, ", ", N, "], c ", c.shape().str());
  VLM_CHECK_AS(shape_error, N <= 1 || c.stride(1) == 1, "gemm output needs unit inner stride");
  tensor<T, cuda> ka, kb;
  const auto A = cuda_detail::operand(a, trans_a, ka), B = cuda_detail::operand(b, trans_b, kb);
  const std::int64_t ldc = M <= 1 ? std::max<std::int64_t>(N, 1) : c.stride(0);
  constexpr auto dt = cuda_detail::cuda_dtype_v<T>;
  cuda_detail::gemm_rm(s, M, N, K, alpha, A, B, dt, beta, c.data(), ldc, dt);
}

// Matrix product with f32 accumulation: [M,K]x[K,N] or batched [B,M,K]x[B,K,N]; output contiguous.
template <class T>
tensor<T, cuda> matmul(const tensor<T, cuda>& a, const tensor<T, cuda>& b, bool trans_a = false, bool trans_b = false,
                       cudaStream_t s = 0) {
  static_assert(cuda_detail::gemm_type_v<T>, "cuda matmul supports float, bf16 and f16");
  if (a.dim() == 2) {
    auto c = tensor<T, cuda>::empty({trans_a ? a.size(1) : a.size(0), trans_b ? b.size(0) : b.size(1)});
    gemm_into(c, a, b, trans_a, trans_b, 1.f, 0.f, s);
    return c;
  }
  VLM_CHECK_AS(shape_error, a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0),
               "batched matmul needs [B,M,K]x[B,K,N], got ", a.shape().str(), " x ", b.shape().str());
  const std::int64_t Bn = a.size(0);
  const std::int64_t M = trans_a ? a.size(2) : a.size(1), K = trans_a ? a.size(1) : a.size(2);
  const std::int64_t Kb = trans_b ? b.size(2) : b.size(1), N = trans_b ? b.size(1) : b.size(2);
  VLM_CHECK_AS(shape_error, K == Kb, "batched matmul shapes: op(a) [", M, ", ", K, "], op(b) [", Kb, ", ", N, "]");
  auto c = tensor<T, cuda>::empty({Bn, M, N});
  tensor<T, cuda> ka, kb;
  const auto A = cuda_detail::operand(a, trans_a, ka), B = cuda_detail::operand(b, trans_b, kb);
  const std::int64_t sa = ka.defined() ? ka.stride(0) : a.stride(0), sb = kb.defined() ? kb.stride(0) : b.stride(0);
  constexpr auto dt = cuda_detail::cuda_dtype_v<T>;
  cuda_detail::gemm_rm(s, M, N, K, 1.f, A, B, dt, 0.f, c.data(), std::max<std::int64_t>(N, 1), dt, Bn, sa, sb, M * N);
  return c;
}

// y = x w^T + bias. x [..., K], w [N, K], bias [N] or undefined. Output T, f32 accumulation;
// the bias is written into y first and added inside the GEMM (beta = 1), so y is rounded once.
template <class T>
tensor<T, cuda> linear(const tensor<T, cuda>& x, const tensor<T, cuda>& w, const tensor<T, cuda>& bias = {},
                       cudaStream_t s = 0) {
  static_assert(cuda_detail::gemm_type_v<T>, "cuda linear supports float, bf16 and f16");
  const std::int64_t K = x.size(-1), N = w.size(0);
  VLM_CHECK_AS(shape_error, w.dim() == 2 && w.size(1) == K, "linear: input ", x.shape().str(), " and weight ",
               w.shape().str(), " (expected [out, ", K, "])");
  VLM_CHECK_AS(shape_error, !bias.defined() || (bias.dim() == 1 && bias.size(0) == N), "linear: bias ",
               bias.shape().str(), ", expected [", N, "]");
  const std::int64_t M = K > 0 ? x.numel() / K : 0;
  vlm::shape out_shape = x.shape();
  out_shape[-1] = N;
  auto y = tensor<T, cuda>::empty(out_shape);
  if (M == 0 || N == 0) return y;
  // x as a 2-D [M, K] operand: 2-D views keep their strides; higher ranks must flatten.
  tensor<T, cuda> x2 = x.dim() == 2 ? x : x.reshape({M, K});
  tensor<T, cuda> kx, kw;
  const auto A = cuda_detail::operand(x2, false, kx), B = cuda_detail::operand(w, true, kw);
  float beta = 0.f;
  if (bias.defined()) {
    auto bc = bias.contiguous();
    cuda_detail::fill_rows_kernel<<<cuda_detail::grid_for(M * N, 256), 256, 0, s>>>(y.data(), bc.data(), M, N);
    VLM_CUDA_LAUNCHED("fill_rows_kernel");
    beta = 1.f;
  }
  constexpr auto dt = cuda_detail::cuda_dtype_v<T>;
  cuda_detail::gemm_rm(s, M, N, K, 1.f, A, B, dt, beta, y.data(), N, dt);
  return y;
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
