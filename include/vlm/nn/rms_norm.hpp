// nn::rms_norm: y = x / sqrt(mean(x^2) + eps) * w, over the last dimension.   w [C]
// Matches transformers' Qwen2RMSNorm: statistics in f32, normalised value rounded to the
// input dtype before the multiply by w. HF key: "<prefix>.weight".
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class T, class Backend>
struct rms_norm {
  parameter<T, Backend> weight;
  float eps = 1e-6f;

  rms_norm() = default;
  rms_norm(std::int64_t dim, float eps_) : weight(tensor<T, Backend>::empty({dim})), eps(eps_) {}

  template <class Ctx>
  tensor<T, Backend> forward(Ctx& ctx, const tensor<T, Backend>& x) const {
    return ag::rms_norm(ctx, x, ag::use(ctx, weight), eps);
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    v(join_name(prefix, "weight"), weight);
  }
};

static_assert(layer<rms_norm<float, cpu>>);

}  // namespace vlm::nn
