// Elementwise kernels: unary maps, broadcasting binary maps, casts, SwiGLU (silu_mul) forward
// and backward, and the row-broadcast fill used for linear's bias. Arithmetic in f32, one
// rounding per output element (as the CPU backend and PyTorch do per kernel).
#pragma once
#include "vlm/backends/cuda/kernels/common.cuh"

namespace vlm::cuda_detail {

// ---- activations (f32) ----
__device__ __forceinline__ float silu_f(float x) { return x / (1.f + expf(-x)); }
__device__ __forceinline__ float gelu_erf_f(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_tanh_f(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.f + tanhf(k * (x + 0.044715f * x * x * x)));
}

struct silu_fn { __device__ float operator()(float x) const { return silu_f(x); } };
struct gelu_erf_fn { __device__ float operator()(float x) const { return gelu_erf_f(x); } };
struct gelu_tanh_fn { __device__ float operator()(float x) const { return gelu_tanh_f(x); } };
struct scale_fn {
  float s;
  __device__ float operator()(float x) const { return x * s; }
};

struct add_fn { __device__ float operator()(float x, float y) const { return x + y; } };
struct sub_fn { __device__ float operator()(float x, float y) const { return x - y; } };
struct mul_fn { __device__ float operator()(float x, float y) const { return x * y; } };
struct div_fn { __device__ float operator()(float x, float y) const { return x / y; } };
struct axpy_fn {  // add_: x + alpha * y
  float alpha;
  __device__ float operator()(float x, float y) const { return x + alpha * y; }
};
// Backward maps take (x, dy).
struct silu_bwd_fn {
  __device__ float operator()(float x, float g) const {
    float s = 1.f / (1.f + expf(-x));
    return g * s * (1.f + x * (1.f - s));
  }
};
struct gelu_erf_bwd_fn {
  __device__ float operator()(float x, float g) const {
    float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
    float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
    return g * (cdf + x * pdf);
  }
};
struct gelu_tanh_bwd_fn {
  __device__ float operator()(float x, float g) const {
    const float k = 0.7978845608028654f;
    float u = k * (x + 0.044715f * x * x * x), t = tanhf(u);
    float du = k * (1.f + 3.f * 0.044715f * x * x);
    return g * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du);
  }
};
struct silu_mul_fn { __device__ float operator()(float g, float u) const { return silu_f(g) * u; } };

// out[i] = f(a[i]), contiguous.
template <class T, class F>
__global__ void unary_kernel(T* out, const T* a, std::int64_t n, F f) {
  VLM_GRID_STRIDE(i, n) st(out, i, f(ld(a, i)));
}

// out[i] = f(a[i], b[i]), all contiguous with the same shape.
template <class T, class F>
__global__ void binary_contig_kernel(T* out, const T* a, const T* b, std::int64_t n, F f) {
  VLM_GRID_STRIDE(i, n) st(out, i, f(ld(a, i), ld(b, i)));
}

// out (contiguous, broadcast shape) = f(a, b); m.s0 / m.s1: a's / b's strides (0 where broadcast).
template <class T, class F>
__global__ void binary_bcast_kernel(T* out, const T* a, const T* b, std::int64_t n, strided_meta m, F f) {
  VLM_GRID_STRIDE(i, n) {
    std::int64_t oa, ob;
    strided_offsets(m, i, oa, ob);
    st(out, i, f(ld(a, oa), ld(b, ob)));
  }
}

template <class To, class From>
__global__ void cast_kernel(To* out, const From* a, std::int64_t n) {
  VLM_GRID_STRIDE(i, n) out[i] = convert<To>(a[i]);
}

// d_gate = dy * up * silu'(gate), d_up = dy * silu(gate).
template <class T>
__global__ void silu_mul_backward_kernel(const T* gate, const T* up, const T* dy, T* d_gate, T* d_up, std::int64_t n) {
  VLM_GRID_STRIDE(i, n) {
    float x = ld(gate, i), s = 1.f / (1.f + expf(-x)), g = ld(dy, i);
    st(d_gate, i, g * ld(up, i) * s * (1.f + x * (1.f - s)));
    st(d_up, i, g * x * s);
  }
}

// out[r, c] = row[c] for r < R (bias broadcast before a beta = 1 GEMM).
template <class T>
__global__ void fill_rows_kernel(T* out, const T* row, std::int64_t R, std::int64_t C) {
  VLM_GRID_STRIDE(i, R * C) out[i] = row[i % C];
}

}  // namespace vlm::cuda_detail
