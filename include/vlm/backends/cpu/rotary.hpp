// Rotary position embedding, NeoX layout (pairs (i, i + D/2)), as transformers'
// apply_rotary_pos_emb: y = x * cos + rotate_half(x) * sin, rotate_half(v) = [-v2, v1].
//   x [N, H, D] (N tokens, any leading dims flattened), cos/sin [N, D] in f32 -- one row per
//   token, so M-RoPE and the vision 2-D rope are just different cos/sin tables.
// Backward: dx = dy * cos + rotate_half^T(dy * sin), rotate_half^T(u) = [u2, -u1].
#pragma once
#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

namespace cpu_detail {
template <class T>
tensor<T, cpu> rotary_impl(const tensor<T, cpu>& x, const tensor<float, cpu>& cos, const tensor<float, cpu>& sin,
                           bool inverse) {
  const std::int64_t D = x.size(-1), H = x.size(-2), N = x.numel() / (H * D), half = D / 2;
  VLM_CHECK_AS(shape_error, D % 2 == 0 && cos.numel() == N * D && sin.numel() == N * D, "rotary: x ",
               x.shape().str(), " needs cos/sin with ", N, " rows of ", D, ", got ", cos.shape().str());
  auto xc = x.contiguous();
  auto cc = cos.contiguous(), sc = sin.contiguous();
  auto y = tensor<T, cpu>::empty(x.shape());
  const float sign = inverse ? -1.f : 1.f;
  parallel_for(N, 64, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n) {
      const float *c = cc.data() + n * D, *s = sc.data() + n * D;
      for (std::int64_t h = 0; h < H; ++h) {
        const T* px = xc.data() + (n * H + h) * D;
        T* py = y.data() + (n * H + h) * D;
        for (std::int64_t i = 0; i < half; ++i) {
          float x1 = static_cast<float>(px[i]), x2 = static_cast<float>(px[i + half]);
          py[i] = convert<T>(x1 * c[i] - sign * x2 * s[i]);
          py[i + half] = convert<T>(x2 * c[i + half] + sign * x1 * s[i + half]);
        }
      }
    }
  });
  return y;
}
}  // namespace cpu_detail

template <class T>
tensor<T, cpu> apply_rotary(const tensor<T, cpu>& x, const tensor<float, cpu>& cos, const tensor<float, cpu>& sin) {
  return cpu_detail::rotary_impl(x, cos, sin, false);
}

// Exact when cos[i] == cos[i + D/2] and sin likewise (true for every rope table here):
// the rotation's transpose is the rotation by -angle.
template <class T>
tensor<T, cpu> apply_rotary_backward(const tensor<T, cpu>& dy, const tensor<float, cpu>& cos,
                                     const tensor<float, cpu>& sin) {
  return cpu_detail::rotary_impl(dy, cos, sin, true);
}

}  // namespace vlm
