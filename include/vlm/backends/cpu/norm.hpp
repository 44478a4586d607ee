// RMSNorm and LayerNorm over the last dimension, with their backwards.
// rms_norm matches transformers' Qwen2RMSNorm: statistics in f32, the normalised value is
// rounded to the input dtype *before* the multiply by the weight (spec 4.5 / 5.7).
// Backward (f32 math): with r = rsqrt(mean(x^2)+eps), n = x*r, y = n*w:
//   dw += sum_rows(dy * n);   dx = r * (g - n * mean(g * n)),  g = dy * w.
#pragma once
#include <cmath>
#include <utility>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

template <class T>
tensor<T, cpu> rms_norm(const tensor<T, cpu>& x, const tensor<T, cpu>& w, float eps) {
  const std::int64_t C = x.size(-1), R = x.numel() / C;
  VLM_CHECK_AS(shape_error, w.dim() == 1 && w.size(0) == C, "rms_norm: weight ", w.shape().str(), " for input ",
               x.shape().str());
  auto xc = x.contiguous(), wc = w.contiguous();
  auto y = tensor<T, cpu>::empty(x.shape());
  cpu_detail::parallel_for(R, std::max<std::int64_t>(1, 8192 / C), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* px = xc.data() + r * C;
      float ss = 0.f;
      for (std::int64_t i = 0; i < C; ++i) ss += static_cast<float>(px[i]) * static_cast<float>(px[i]);
      float inv = 1.f / std::sqrt(ss / static_cast<float>(C) + eps);
      T* py = y.data() + r * C;
      for (std::int64_t i = 0; i < C; ++i) {
        T n = convert<T>(static_cast<float>(px[i]) * inv);
        py[i] = convert<T>(static_cast<float>(wc.data()[i]) * static_cast<float>(n));
      }
    }
  });
  return y;
}

// dx (returned) and dw (accumulated into, if defined).
template <class T>
tensor<T, cpu> rms_norm_backward(const tensor<T, cpu>& x, const tensor<T, cpu>& w, float eps,
                                 const tensor<T, cpu>& dy, tensor<T, cpu>* dw) {
  const std::int64_t C = x.size(-1), R = x.numel() / C;
  auto xc = x.contiguous(), wc = w.contiguous(), gc = dy.contiguous();
  auto dx = tensor<T, cpu>::empty(x.shape());
  std::vector<double> dw_acc(dw ? static_cast<std::size_t>(C) : 0, 0.0);
  std::vector<float> inv(static_cast<std::size_t>(R));
  cpu_detail::parallel_for(R, std::max<std::int64_t>(1, 4096 / C), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const T *px = xc.data() + r * C, *pg = gc.data() + r * C;
      float ss = 0.f;
      for (std::int64_t i = 0; i < C; ++i) ss += static_cast<float>(px[i]) * static_cast<float>(px[i]);
      float rr = 1.f / std::sqrt(ss / static_cast<float>(C) + eps);
      inv[static_cast<std::size_t>(r)] = rr;
      float dot = 0.f;  // mean(g * n)
      for (std::int64_t i = 0; i < C; ++i)
        dot += static_cast<float>(pg[i]) * static_cast<float>(wc.data()[i]) * static_cast<float>(px[i]) * rr;
      dot /= static_cast<float>(C);
      for (std::int64_t i = 0; i < C; ++i) {
        float g = static_cast<float>(pg[i]) * static_cast<float>(wc.data()[i]);
        float n = static_cast<float>(px[i]) * rr;
        dx.data()[r * C + i] = convert<T>(rr * (g - n * dot));
      }
    }
  });
  if (dw) {
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t i = 0; i < C; ++i)
        dw_acc[static_cast<std::size_t>(i)] += static_cast<double>(static_cast<float>(gc.data()[r * C + i])) *
                                               static_cast<float>(xc.data()[r * C + i]) * inv[static_cast<std::size_t>(r)];
    for (std::int64_t i = 0; i < C; ++i)
      dw->data()[i] = convert<T>(static_cast<float>(dw->data()[i]) + static_cast<float>(dw_acc[static_cast<std::size_t>(i)]));
  }
  return dx;
}

namespace cpu_detail {
// Mean and 1 / sqrt(biased variance + eps) of one row, in f32 (two passes, as torch's CPU kernel).
template <class T>
std::pair<float, float> layer_norm_stats(const T* px, std::int64_t C, float eps) {
  float mean = 0.f, var = 0.f;
  for (std::int64_t i = 0; i < C; ++i) mean += static_cast<float>(px[i]);
  mean /= static_cast<float>(C);
  for (std::int64_t i = 0; i < C; ++i) {
    const float d = static_cast<float>(px[i]) - mean;
    var += d * d;
  }
  return {mean, 1.f / std::sqrt(var / static_cast<float>(C) + eps)};
}
}  // namespace cpu_detail

// LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b (biased variance, as torch).
template <class T>
tensor<T, cpu> layer_norm(const tensor<T, cpu>& x, const tensor<T, cpu>& w, const tensor<T, cpu>& b, float eps) {
  const std::int64_t C = x.size(-1), R = x.numel() / C;
  auto xc = x.contiguous(), wc = w.contiguous();
  tensor<T, cpu> bc = b.defined() ? b.contiguous() : b;
  auto y = tensor<T, cpu>::empty(x.shape());
  cpu_detail::parallel_for(R, std::max<std::int64_t>(1, 8192 / C), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* px = xc.data() + r * C;
      const auto [mean, inv] = cpu_detail::layer_norm_stats(px, C, eps);
      for (std::int64_t i = 0; i < C; ++i) {
        float v = (static_cast<float>(px[i]) - mean) * inv * static_cast<float>(wc.data()[i]);
        if (bc.defined()) v += static_cast<float>(bc.data()[i]);
        y.data()[r * C + i] = convert<T>(v);
      }
    }
  });
  return y;
}

// dx returned; dw, db accumulated into when non-null.
template <class T>
tensor<T, cpu> layer_norm_backward(const tensor<T, cpu>& x, const tensor<T, cpu>& w, float eps,
                                   const tensor<T, cpu>& dy, tensor<T, cpu>* dw, tensor<T, cpu>* db) {
  const std::int64_t C = x.size(-1), R = x.numel() / C;
  auto xc = x.contiguous(), wc = w.contiguous(), gc = dy.contiguous();
  auto dx = tensor<T, cpu>::empty(x.shape());
  std::vector<double> dwa(static_cast<std::size_t>(C), 0.0), dba(static_cast<std::size_t>(C), 0.0);
  for (std::int64_t r = 0; r < R; ++r) {
    const T *px = xc.data() + r * C, *pg = gc.data() + r * C;
    const auto [mean, inv] = cpu_detail::layer_norm_stats(px, C, eps);
    float mg = 0.f, mgn = 0.f;  // mean(g), mean(g * n)
    for (std::int64_t i = 0; i < C; ++i) {
      float g = static_cast<float>(pg[i]) * static_cast<float>(wc.data()[i]);
      float n = (static_cast<float>(px[i]) - mean) * inv;
      mg += g;
      mgn += g * n;
      dwa[static_cast<std::size_t>(i)] += static_cast<double>(static_cast<float>(pg[i])) * n;
      dba[static_cast<std::size_t>(i)] += static_cast<float>(pg[i]);
    }
    mg /= static_cast<float>(C);
    mgn /= static_cast<float>(C);
    for (std::int64_t i = 0; i < C; ++i) {
      float g = static_cast<float>(pg[i]) * static_cast<float>(wc.data()[i]);
      float n = (static_cast<float>(px[i]) - mean) * inv;
      dx.data()[r * C + i] = convert<T>(inv * (g - mg - n * mgn));
    }
  }
  for (std::int64_t i = 0; i < C; ++i) {
    if (dw) dw->data()[i] = convert<T>(static_cast<float>(dw->data()[i]) + static_cast<float>(dwa[static_cast<std::size_t>(i)]));
    if (db) db->data()[i] = convert<T>(static_cast<float>(db->data()[i]) + static_cast<float>(dba[static_cast<std::size_t>(i)]));
  }
  return dx;
}

}  // namespace vlm
