// nn::swiglu: down(silu(gate(x)) * up(x)) -- the MLP of Qwen2 text layers (no biases) and of
// the Qwen2.5-VL vision blocks (with biases). The projection type is a template parameter so
// that LoRA-wrapped projections drop in. HF keys: gate_proj, up_proj, down_proj.
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/nn/layer.hpp"

namespace vlm::nn {

template <class Gate, class Up = Gate, class Down = Gate>
struct swiglu {
  Gate gate_proj;
  Up up_proj;
  Down down_proj;

  swiglu() = default;
  swiglu(std::int64_t hidden, std::int64_t intermediate, bool bias)
      : gate_proj(hidden, intermediate, bias), up_proj(hidden, intermediate, bias), down_proj(intermediate, hidden, bias) {}

  template <class Ctx, class X>
  X forward(Ctx& ctx, const X& x) const {
    auto h = ag::silu_mul(ctx, gate_proj.forward(ctx, x), up_proj.forward(ctx, x));
    return down_proj.forward(ctx, h);
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    gate_proj.visit_params(v, join_name(prefix, "gate_proj"));
    up_proj.visit_params(v, join_name(prefix, "up_proj"));
    down_proj.visit_params(v, join_name(prefix, "down_proj"));
  }
};

}  // namespace vlm::nn
