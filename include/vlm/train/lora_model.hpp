// Qwen2.5-VL with LoRA-capable projections in the text decoder and the ViT blocks, and the
// generic tools that act on any model by visiting it: attach adapters by target rule, freeze
// for a train type, list trainable parameters, merge, switch adapters off.
#pragma once
#include <random>

#include "vlm/models/qwen2_5_vl/model.hpp"
#include "vlm/train/lora.hpp"
#include "vlm/train/targets.hpp"

namespace vlm::train {

template <class T, class B>
using lora_linear = lora<nn::linear<T, B>>;

template <class T, class B>
using lora_model = qwen2_5_vl::model<T, B, qwen2_5_vl::text_block<T, B, lora_linear<T, B>>,
                                     qwen2_5_vl::vision_block<T, B, lora_linear<T, B>>>;

namespace detail {
template <class F>
struct lora_visitor {
  F on;
  template <class P>
  void operator()(const std::string&, P&) {}
  template <class L>
  void on_lora(const std::string& path, L& layer) { on(path, layer); }
};
template <class F>
lora_visitor(F) -> lora_visitor<F>;
}  // namespace detail

// Calls f(path, lora_layer&) for every LoRA-capable Linear of the model.
template <class Model, class F>
void for_each_lora(Model& m, F&& f) {
  detail::lora_visitor v{std::forward<F>(f)};
  m.visit_params(v, "");
}

// Attaches fresh adapters to the targeted layers; returns how many.
template <class Model>
std::size_t attach_lora(Model& m, const lora_config& cfg, const lora_targets& targets, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::size_t n = 0;
  for_each_lora(m, [&](const std::string& path, auto& layer) {
    if (is_lora_target(path, targets)) {
      layer.attach(cfg, rng);
      ++n;
    }
  });
  return n;
}

enum class train_type { lora, full };

// lora: only adapter parameters train. full: everything trains except the frozen parts.
template <class Model>
void set_trainable(Model& m, train_type type, const lora_targets& freeze = {}) {
  m.visit_params([&](const std::string& name, auto& p) {
    if (type == train_type::lora) {
      p.requires_grad = is_lora_name(name);
    } else {
      auto part = part_of(name);
      bool frozen = (part == model_part::vit && freeze.freeze_vit) || (part == model_part::aligner && freeze.freeze_aligner) ||
                    ((part == model_part::llm || part == model_part::head) && freeze.freeze_llm);
      p.requires_grad = !frozen;
    }
    if (!p.requires_grad) p.grad = {};
  }, "");
}

template <class Model>
void set_adapters_enabled(Model& m, bool on) {
  for_each_lora(m, [&](const std::string&, auto& layer) { layer.enabled = on; });
}

template <class Model>
void merge_lora(Model& m) {
  for_each_lora(m, [&](const std::string&, auto& layer) { layer.merge(); });
}

}  // namespace vlm::train
