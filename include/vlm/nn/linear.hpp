// nn::linear: y = x W^T + b.  x [..., in], W [out, in] (PyTorch layout), b [out] optional.
// HF keys: "<prefix>.weight", "<prefix>.bias".
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class T, class Backend>
struct linear {
  using value_type = T;
  using backend_type = Backend;
  parameter<T, Backend> weight;
  parameter<T, Backend> bias;  // undefined when the layer has none

  linear() = default;
  linear(std::int64_t in_features, std::int64_t out_features, bool has_bias)
      : weight(tensor<T, Backend>::empty({out_features, in_features})) {
    if (has_bias) bias = parameter<T, Backend>(tensor<T, Backend>::empty({out_features}));
  }
  std::int64_t in_features() const { return weight.value.size(1); }
  std::int64_t out_features() const { return weight.value.size(0); }

  template <class Ctx>
  tensor<T, Backend> forward(Ctx& ctx, const tensor<T, Backend>& x) const {
    return ag::linear(ctx, x, ag::use(ctx, weight), bias.defined() ? ag::use(ctx, bias) : tensor<T, Backend>{});
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    v(join_name(prefix, "weight"), weight);
    if (bias.defined()) v(join_name(prefix, "bias"), bias);
  }
};

static_assert(layer<linear<float, cpu>>);

}  // namespace vlm::nn
