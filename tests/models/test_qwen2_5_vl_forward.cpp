// Qwen2.5-VL forward and training step against transformers (golden tensors in
// tests/data/qwen2_5_vl, made by transformers 4.51.0.dev0 in f32, eager attention; see
// tools/README or shared golden README). Compared layer by layer by name.
// Tolerance: max|ours - ref| / max|ref| <= 1e-5 per tensor (f32; the reference's own float64
// re-derivation lands within 1.6e-6), integers exactly.
#include <catch2/catch.hpp>

#include "../common/golden.hpp"

#include <map>

#include <vlm/autograd.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/load.hpp>

namespace {

using namespace vlm;
using model_f32 = qwen2_5_vl::model<float, cpu>;
const std::string data_dir = VLM_TEST_DATA_DIR "/qwen2_5_vl";

const model_f32& tiny_model() {
  static model_f32 m = qwen2_5_vl::from_pretrained<model_f32>(data_dir + "/tiny");
  return m;
}

// Records every named intermediate the model traces.
struct recorder : tracer<float, cpu> {
  std::map<std::string, tensor<float, cpu>> seen;
  void on_tensor(std::string_view name, const tensor<float, cpu>& v) override { seen[std::string(name)] = v.clone(); }
};

// max|a - b| / max|b| over positions where keep(i) holds.
template <class Keep>
double relative_error(const tensor<float, cpu>& ours, const tensor<float, cpu>& ref, Keep keep) {
  REQUIRE(ours.numel() == ref.numel());
  auto a = ours.to_vector(), b = ref.to_vector();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!keep(i)) continue;
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return den > 0 ? num / den : num;
}
double relative_error(const tensor<float, cpu>& ours, const tensor<float, cpu>& ref) {
  return relative_error(ours, ref, [](std::size_t) { return true; });
}

constexpr double f32_tolerance = 1e-5;

qwen2_5_vl::model_inputs<float, cpu> read_inputs(const io::safetensors_file& f) {
  return vlm_test::read_golden_inputs<float>(f);
}

}  // namespace

TEST_CASE("qwen2_5_vl tiny forward matches transformers layer by layer", "[golden][models]") {
  const auto& m = tiny_model();
  auto name = GENERATE(as<std::string>{}, "ocr_image_a", "describe_image_b", "two_images", "text_only", "batch_left_pad");
  INFO("case " << name);
  auto inputs_file = io::safetensors_file::open(data_dir + "/inputs/" + name + ".safetensors");
  auto golden = io::safetensors_file::open(data_dir + "/tiny/cases/" + name + ".safetensors");
  auto in = read_inputs(inputs_file);

  recorder rec;
  no_grad ctx;
  ctx.tracer_ = &rec;
  auto out = m.forward(ctx, in);

  // Positions: exact (L0).
  auto ref_pos = golden.get_as<std::int64_t>("position_ids");
  CHECK(out.positions.position_ids.to_vector() == ref_pos.to_vector());
  auto ref_delta = golden.get_as<std::int64_t>("rope_deltas").to_vector();
  CHECK(out.positions.rope_deltas == ref_delta);

  auto mask = in.attention_mask.to_vector();
  const std::int64_t V = out.logits.size(-1), C = out.hidden.size(-1);
  auto at_tokens = [&](std::int64_t width) { return [&, width](std::size_t i) { return mask[i / static_cast<std::size_t>(width)] == 1; }; };

  if (!in.image_grids.empty()) {
    CHECK(relative_error(out.image_embeds, golden.get_as<float>("image_embeds")) <= f32_tolerance);
    CHECK(relative_error(rec.seen.at("vision_patch_embeds"), golden.get_as<float>("vision_patch_embeds")) <= f32_tolerance);
    for (int b = 0; b < 4; ++b) {
      std::string n = "vision_block" + std::to_string(b) + "_out";
      INFO(n);
      CHECK(relative_error(rec.seen.at(n), golden.get_as<float>(n)) <= f32_tolerance);
    }
    CHECK(relative_error(rec.seen.at("vision_merger_out_window_order"), golden.get_as<float>("vision_merger_out_window_order")) <=
          f32_tolerance);
  }
  for (int h = 0; h <= 1; ++h) {
    std::string n = "hidden_states_" + std::to_string(h);
    INFO(n);
    CHECK(relative_error(rec.seen.at(n).view({-1}), golden.get_as<float>(n).view({-1}), at_tokens(C)) <= f32_tolerance);
  }
  CHECK(relative_error(out.hidden.view({-1}), golden.get_as<float>("hidden_states_2").view({-1}), at_tokens(C)) <= f32_tolerance);
  CHECK(relative_error(out.logits.view({-1}), golden.get_as<float>("logits").view({-1}), at_tokens(V)) <= f32_tolerance);
}

TEST_CASE("qwen2_5_vl vision layout matches transformers' window index", "[golden][models]") {
  auto name = GENERATE(as<std::string>{}, "ocr_image_a", "describe_image_b", "two_images");
  auto in = read_inputs(io::safetensors_file::open(data_dir + "/inputs/" + name + ".safetensors"));
  auto golden = io::safetensors_file::open(data_dir + "/tiny/cases/" + name + ".safetensors");
  const auto& cfg = tiny_model().cfg.vision;
  auto w = qwen2_5_vl::window_partition(in.image_grids, cfg.spatial_merge_size, cfg.window_units());
  CHECK(w.window_index == golden.get_as<std::int64_t>("vision_window_index").to_vector());
  CHECK(w.cu_window_seqlens == golden.get_as<std::int32_t>("vision_cu_window_seqlens").to_vector());
  CHECK(qwen2_5_vl::frame_segments(in.image_grids) == golden.get_as<std::int32_t>("vision_cu_seqlens").to_vector());
}

TEST_CASE("qwen2_5_vl training loss and gradients match torch autograd", "[golden][models]") {
  // A fresh copy: the tape accumulates into parameter gradients.
  auto m = qwen2_5_vl::from_pretrained<model_f32>(data_dir + "/tiny");
  auto inputs_file = io::safetensors_file::open(data_dir + "/inputs/train_ocr.safetensors");
  auto golden = io::safetensors_file::open(data_dir + "/tiny/cases/train_ocr.safetensors");
  auto in = read_inputs(inputs_file);
  auto labels = inputs_file.get_as<std::int64_t>("labels").contiguous();

  // transformers' ForCausalLMLoss: labels shifted left by one, -100 appended.
  const std::int64_t L = labels.size(1);
  auto shifted = tensor<std::int64_t, cpu>::full({L}, ignore_index);
  for (std::int64_t i = 0; i + 1 < L; ++i) shifted.data()[i] = labels.data()[i + 1];

  tape<float, cpu> t;
  auto out = m.forward(t, in);
  auto loss = ag::cross_entropy(t, out.logits.view({L, -1}), shifted);
  CHECK(loss.item() == Approx(golden.get_as<float>("loss").item()).epsilon(1e-5));
  CHECK(relative_error(out.logits, golden.get_as<float>("logits")) <= f32_tolerance);
  t.backward(loss);

  std::map<std::string, const parameter<float, cpu>*> params;
  m.visit_params([&](const std::string& n, auto& p) { params[n] = &p; });
  for (std::string n : {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight",
                        "visual.blocks.0.attn.qkv.weight", "visual.merger.mlp.0.weight", "visual.patch_embed.proj.weight",
                        "lm_head.weight"}) {
    INFO(n);
    const auto& g = params.at(n)->grad;
    REQUIRE(g.defined());
    CHECK(relative_error(g.view({-1}), golden.get_as<float>("grad." + n).view({-1})) <= 1e-4);
  }
}
