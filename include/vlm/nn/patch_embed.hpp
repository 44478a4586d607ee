// nn::patch_embed: the ViT's Conv3d patch embedding (kernel = stride = (2, 14, 14), no bias)
// written as one GEMM: pixel_values [P, 3*2*14*14] x W^T, W viewed as [C, 1176]. The
// flattened kernel order (c, t, ky, kx) is exactly the pixel_values column order, so no
// reshuffling is needed. HF key: "<prefix>.proj.weight" stored [C, 3, 2, 14, 14].
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class T, class Backend>
struct patch_embed {
  parameter<T, Backend> proj_weight;  // [C, in_channels, temporal, patch, patch]

  patch_embed() = default;
  patch_embed(std::int64_t channels, std::int64_t temporal, std::int64_t patch, std::int64_t dim)
      : proj_weight(tensor<T, Backend>::empty({dim, channels, temporal, patch, patch})) {}

  template <class Ctx>
  tensor<T, Backend> forward(Ctx& ctx, const tensor<T, Backend>& pixels) const {
    auto w = ag::use(ctx, proj_weight);
    const std::int64_t C = w.size(0);
    return ag::linear(ctx, pixels, w.view({C, w.numel() / C}));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    v(join_name(prefix, "proj.weight"), proj_weight);
  }
};

}  // namespace vlm::nn
