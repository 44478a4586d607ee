// 02_compose_block: assemble a Qwen2.5-VL variant in your own translation unit.
// The published architecture is qwen2_5_vl::model<T, B>; here the text decoder's SwiGLU MLP is
// replaced by a plain GELU MLP of our own and the depth is changed, using the same templates.
// Needs nothing but the headers (weights are random). Expected output: the logits' shape and a
// parameter count that differs from the stock model's.
#include <cstdio>
#include <random>

#include <vlm/models/qwen2_5_vl/model.hpp>

namespace my {

// A non-gated MLP: down(gelu(up(x))). Any struct with this shape is a valid block part.
template <class Linear>
struct gelu_mlp {
  Linear up_proj, down_proj;
  gelu_mlp() = default;
  gelu_mlp(std::int64_t hidden, std::int64_t intermediate, bool bias)
      : up_proj(hidden, intermediate, bias), down_proj(intermediate, hidden, bias) {}
  template <class Ctx, class X>
  X forward(Ctx& ctx, const X& x) const {
    return down_proj.forward(ctx, vlm::ag::gelu(ctx, up_proj.forward(ctx, x)));
  }
  template <class Visit>
  void visit_params(Visit&& v, std::string_view prefix) {
    up_proj.visit_params(v, vlm::nn::join_name(prefix, "up_proj"));
    down_proj.visit_params(v, vlm::nn::join_name(prefix, "down_proj"));
  }
};

}  // namespace my

using T = float;
using B = vlm::cpu;
using Linear = vlm::nn::linear<T, B>;
using TextBlock = vlm::nn::pre_norm_block<vlm::nn::rms_norm<T, B>, vlm::nn::gqa_attention<Linear>, my::gelu_mlp<Linear>>;
using Variant = vlm::qwen2_5_vl::model<T, B, TextBlock>;
using Stock = vlm::qwen2_5_vl::model<T, B>;

vlm::qwen2_5_vl::config tiny_config(int text_layers) {
  nlohmann::json j = {
      {"hidden_size", 64}, {"num_hidden_layers", text_layers}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
      {"intermediate_size", 128}, {"vocab_size", 1024}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1e6},
      {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 3, 3}}}}, {"image_token_id", 1012},
      {"vision_start_token_id", 1009}, {"tie_word_embeddings", true},
      {"vision_config", {{"depth", 2}, {"hidden_size", 64}, {"num_heads", 4}, {"intermediate_size", 128},
                         {"out_hidden_size", 64}, {"fullatt_block_indexes", {1}}, {"window_size", 56}}}};
  return vlm::qwen2_5_vl::config::from_json(j, "tiny config (in code)");
}

template <class Model>
void randomize(Model& m) {
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.f, 0.05f);
  m.visit_params([&](const std::string&, auto& p) {
    for (std::int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] = normal(rng);
  });
}

int main() {
  Variant variant(tiny_config(3));  // 3 text layers with our MLP
  Stock stock(tiny_config(2));
  randomize(variant);
  randomize(stock);

  vlm::qwen2_5_vl::model_inputs<T, B> in;
  in.input_ids = vlm::tensor<std::int64_t>::from_host({1, 6}, {1001, 5, 6, 7, 1002, 8});
  vlm::no_grad ctx;
  auto out = variant.forward(ctx, in);
  std::printf("variant logits %s, %lld parameters (stock: %lld)\n", out.logits.shape().str().c_str(),
              static_cast<long long>(vlm::nn::count_params(variant)), static_cast<long long>(vlm::nn::count_params(stock)));
  return 0;
}
