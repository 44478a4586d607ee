// nn::patch_merger: Qwen2.5-VL's Qwen2_5_VLPatchMerger. RMSNorm each patch (ln_q, eps 1e-6),
// concatenate each 2x2 merge unit's 4 consecutive rows into one vector of 4C, then
// Linear(4C, 4C) -> GELU (erf) -> Linear(4C, out).   x [P, C] -> [P/4, out]
// HF keys: ln_q, mlp.0, mlp.2 (mlp.1 is the GELU and has no tensors).
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class Norm, class Linear>
struct patch_merger {
  Norm ln_q;
  Linear mlp0;
  Linear mlp2;
  std::int64_t unit = 4;  // spatial_merge_size^2

  patch_merger() = default;
  patch_merger(std::int64_t dim, std::int64_t out_dim, std::int64_t merge_size, float eps)
      : ln_q(dim, eps),
        mlp0(dim * merge_size * merge_size, dim * merge_size * merge_size, true),
        mlp2(dim * merge_size * merge_size, out_dim, true),
        unit(merge_size * merge_size) {}

  template <class Ctx, class X>
  X forward(Ctx& ctx, const X& x) const {
    auto n = ln_q.forward(ctx, x);
    auto grouped = n.view({x.size(0) / unit, x.size(1) * unit});
    return mlp2.forward(ctx, ag::gelu(ctx, mlp0.forward(ctx, grouped)));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    ln_q.visit_params(v, join_name(prefix, "ln_q"));
    mlp0.visit_params(v, join_name(prefix, "mlp.0"));
    mlp2.visit_params(v, join_name(prefix, "mlp.2"));
  }
};

}  // namespace vlm::nn
