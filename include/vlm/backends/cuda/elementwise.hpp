// Elementwise ops on vlm::cuda, same names and semantics as backends/cpu/elementwise.hpp:
//   add sub mul div (NumPy broadcasting, any input strides), add_ (in place), scale, cast<To>,
//   silu gelu_erf gelu_tanh and their backwards, silu_mul (SwiGLU) and silu_mul_backward.
// f32 arithmetic, one rounding per element. Launchers take a stream (default 0).
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include "vlm/backends/cpu/elementwise.hpp"  // cpu_detail::broadcast_shape
#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/elementwise.cuh"

namespace vlm {

namespace cuda_detail {

inline constexpr int ew_block = 256;

// Strides of t seen through the broadcast shape `out` (0 on broadcast dimensions).
template <class T>
vlm::shape broadcast_strides(const tensor<T, cuda>& t, const vlm::shape& out) {
  vlm::shape st;
  const int off = out.rank() - t.dim();
  for (int i = 0; i < out.rank(); ++i) {
    if (i < off || t.size(i - off) == 1) st.push_back(0);
    else st.push_back(t.stride(i - off));
  }
  return st;
}

// out (contiguous) = f(a, b) with broadcasting.
template <class T, class F>
void map2(tensor<T, cuda>& out, const tensor<T, cuda>& a, const tensor<T, cuda>& b, F f, cudaStream_t s) {
  const vlm::shape& sh = out.shape();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  if (a.shape() == sh && b.shape() == sh && a.is_contiguous() && b.is_contiguous()) {
    binary_contig_kernel<<<grid_for(n, ew_block), ew_block, 0, s>>>(out.data(), a.data(), b.data(), n, f);
    VLM_CUDA_LAUNCHED("binary_contig_kernel");
    return;
  }
  const vlm::shape sa = broadcast_strides(a, sh), sb = broadcast_strides(b, sh);
  strided_meta m;
  for (int i = 0; i < sh.rank(); ++i) {
    if (sh[i] == 1) continue;
    m.size[m.rank] = sh[i];
    m.s0[m.rank] = sa[i];
    m.s1[m.rank] = sb[i];
    ++m.rank;
  }
  binary_bcast_kernel<<<grid_for(n, ew_block), ew_block, 0, s>>>(out.data(), a.data(), b.data(), n, m, f);
  VLM_CUDA_LAUNCHED("binary_bcast_kernel");
}

// out = f(a) with a's shape (a made contiguous first).
template <class T, class F>
tensor<T, cuda> map1(const tensor<T, cuda>& a, F f, cudaStream_t s) {
  auto ac = a.contiguous();
  auto out = tensor<T, cuda>::empty(a.shape());
  const std::int64_t n = a.numel();
  if (n == 0) return out;
  unary_kernel<<<grid_for(n, ew_block), ew_block, 0, s>>>(out.data(), ac.data(), n, f);
  VLM_CUDA_LAUNCHED("unary_kernel");
  return out;
}

template <class T, class F>
tensor<T, cuda> binary(const tensor<T, cuda>& a, const tensor<T, cuda>& b, F f, cudaStream_t s) {
  auto out = tensor<T, cuda>::empty(cpu_detail::broadcast_shape(a.shape(), b.shape()));
  map2(out, a, b, f, s);
  return out;
}

}  // namespace cuda_detail

template <class To, class From>
tensor<To, cuda> cast(const tensor<From, cuda>& a, cudaStream_t s = 0) {
  if constexpr (std::is_same_v<To, From>) {
    return a;
  } else {
    auto ac = a.contiguous();
    auto out = tensor<To, cuda>::empty(a.shape());
    const std::int64_t n = a.numel();
    if (n == 0) return out;
    cuda_detail::cast_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, s>>>(out.data(), ac.data(), n);
    VLM_CUDA_LAUNCHED("cast_kernel");
    return out;
  }
}

template <class T>
tensor<T, cuda> add(const tensor<T, cuda>& a, const tensor<T, cuda>& b, cudaStream_t s = 0) {
  return cuda_detail::binary(a, b, cuda_detail::add_fn{}, s);
}
template <class T>
tensor<T, cuda> sub(const tensor<T, cuda>& a, const tensor<T, cuda>& b, cudaStream_t s = 0) {
  return cuda_detail::binary(a, b, cuda_detail::sub_fn{}, s);
}
template <class T>
tensor<T, cuda> mul(const tensor<T, cuda>& a, const tensor<T, cuda>& b, cudaStream_t s = 0) {
  return cuda_detail::binary(a, b, cuda_detail::mul_fn{}, s);
}
template <class T>
tensor<T, cuda> div(const tensor<T, cuda>& a, const tensor<T, cuda>& b, cudaStream_t s = 0) {
  return cuda_detail::binary(a, b, cuda_detail::div_fn{}, s);
}

// dst += alpha * src (src may broadcast into dst). Gradient accumulation.
template <class T>
void add_(tensor<T, cuda>& dst, const tensor<T, cuda>& src, float alpha = 1.f, cudaStream_t s = 0) {
  VLM_CHECK_AS(shape_error, dst.is_contiguous(), "add_ into a non-contiguous tensor");
  VLM_CHECK_AS(shape_error, cpu_detail::broadcast_shape(dst.shape(), src.shape()) == dst.shape(), "add_: ",
               src.shape().str(), " does not broadcast into ", dst.shape().str());
  cuda_detail::map2(dst, dst, src, cuda_detail::axpy_fn{alpha}, s);
}

template <class T>
tensor<T, cuda> scale(const tensor<T, cuda>& a, float factor, cudaStream_t s = 0) {
  return cuda_detail::map1(a, cuda_detail::scale_fn{factor}, s);
}
template <class T>
tensor<T, cuda> silu(const tensor<T, cuda>& a, cudaStream_t s = 0) {
  return cuda_detail::map1(a, cuda_detail::silu_fn{}, s);
}
template <class T>
tensor<T, cuda> gelu_erf(const tensor<T, cuda>& a, cudaStream_t s = 0) {
  return cuda_detail::map1(a, cuda_detail::gelu_erf_fn{}, s);
}
template <class T>
tensor<T, cuda> gelu_tanh(const tensor<T, cuda>& a, cudaStream_t s = 0) {
  return cuda_detail::map1(a, cuda_detail::gelu_tanh_fn{}, s);
}

// d/dx of the activations, given the input x and the output gradient dy.
template <class T>
tensor<T, cuda> silu_backward(const tensor<T, cuda>& x, const tensor<T, cuda>& dy, cudaStream_t s = 0) {
  return cuda_detail::binary(x, dy, cuda_detail::silu_bwd_fn{}, s);
}
template <class T>
tensor<T, cuda> gelu_erf_backward(const tensor<T, cuda>& x, const tensor<T, cuda>& dy, cudaStream_t s = 0) {
  return cuda_detail::binary(x, dy, cuda_detail::gelu_erf_bwd_fn{}, s);
}
template <class T>
tensor<T, cuda> gelu_tanh_backward(const tensor<T, cuda>& x, const tensor<T, cuda>& dy, cudaStream_t s = 0) {
  return cuda_detail::binary(x, dy, cuda_detail::gelu_tanh_bwd_fn{}, s);
}

// SwiGLU core: silu(gate) * up, fused.
template <class T>
tensor<T, cuda> silu_mul(const tensor<T, cuda>& gate, const tensor<T, cuda>& up, cudaStream_t s = 0) {
  VLM_CHECK_AS(shape_error, gate.shape() == up.shape(), "silu_mul: gate ", gate.shape().str(), " vs up ",
               up.shape().str());
  return cuda_detail::binary(gate, up, cuda_detail::silu_mul_fn{}, s);
}
// Gradients of silu(gate) * up: d_gate = dy * up * silu'(gate), d_up = dy * silu(gate).
template <class T>
void silu_mul_backward(const tensor<T, cuda>& gate, const tensor<T, cuda>& up, const tensor<T, cuda>& dy,
                       tensor<T, cuda>& d_gate, tensor<T, cuda>& d_up, cudaStream_t s = 0) {
  VLM_CHECK_AS(shape_error, gate.shape() == up.shape() && gate.shape() == dy.shape(), "silu_mul_backward: gate ",
               gate.shape().str(), ", up ", up.shape().str(), ", dy ", dy.shape().str());
  auto g = gate.contiguous(), u = up.contiguous(), d = dy.contiguous();
  d_gate = tensor<T, cuda>::empty(gate.shape());
  d_up = tensor<T, cuda>::empty(gate.shape());
  const std::int64_t n = g.numel();
  if (n == 0) return;
  cuda_detail::silu_mul_backward_kernel<<<cuda_detail::grid_for(n, 256), 256, 0, s>>>(
      g.data(), u.data(), d.data(), d_gate.data(), d_up.data(), n);
  VLM_CUDA_LAUNCHED("silu_mul_backward_kernel");
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
