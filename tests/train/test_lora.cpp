// LoRA against torch + peft 0.15.2 (tests/data/lora, tools/gen_golden_lora.py): one SFT step of
// the tiny checkpoint with a PEFT adapter -- loss, logits and all 28 LoRA gradients -- plus the
// LoRA properties: B = 0 is the base layer, merged weights reproduce the unmerged output, a
// switched-off adapter is the base model, and our adapter files round-trip.
// Tolerances: f32, max|ours - ref| / max|ref| <= 1e-5 for logits, 1e-4 for gradients.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/load.hpp>
#include <vlm/train/peft.hpp>

namespace {
using namespace vlm;
using lora_f32 = train::lora_model<float, cpu>;
const std::string data = VLM_TEST_DATA_DIR;

double rel_err(const tensor<float, cpu>& a, const tensor<float, cpu>& b) {
  auto x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num = std::max(num, std::abs(double(x[i]) - y[i]));
    den = std::max(den, std::abs(double(y[i])));
  }
  return den > 0 ? num / den : num;
}

struct train_case {
  qwen2_5_vl::model_inputs<float, cpu> in;
  tensor<std::int64_t, cpu> shifted;  // labels shifted left, -100 appended
};
train_case train_ocr() {
  auto f = io::safetensors_file::open(data + "/qwen2_5_vl/inputs/train_ocr.safetensors");
  train_case c;
  c.in.input_ids = f.get_as<std::int64_t>("input_ids").clone();
  c.in.attention_mask = f.get_as<std::int64_t>("attention_mask").clone();
  c.in.pixel_values = f.get_as<float>("pixel_values").clone();
  auto g = f.get_as<std::int64_t>("image_grid_thw");
  c.in.image_grids.push_back({g.at({0, 0}), g.at({0, 1}), g.at({0, 2})});
  auto labels = f.get_as<std::int64_t>("labels").contiguous();
  const std::int64_t L = labels.size(1);
  c.shifted = tensor<std::int64_t, cpu>::full({L}, ignore_index);
  for (std::int64_t i = 0; i + 1 < L; ++i) c.shifted.data()[i] = labels.data()[i + 1];
  return c;
}
tensor<float, cpu> logits_of(const lora_f32& m, const qwen2_5_vl::model_inputs<float, cpu>& in) {
  no_grad ctx;
  return m.forward(ctx, in).logits;
}
}  // namespace

TEST_CASE("LoRA step matches torch + peft: loss, logits, every LoRA gradient", "[golden][train][lora]") {
  auto m = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  auto cfg = train::load_adapter(data + "/lora/adapter", m);
  CHECK(cfg.rank == 8);
  CHECK(cfg.scale() == 4.f);
  train::set_trainable(m, train::train_type::lora);
  auto golden = io::safetensors_file::open(data + "/lora/step.safetensors");
  auto c = train_ocr();

  tape<float, cpu> t;
  auto out = m.forward(t, c.in);
  const std::int64_t L = c.shifted.size(0);
  auto loss = ag::cross_entropy(t, out.logits.view({L, -1}), c.shifted);
  CHECK(loss.item() == Approx(golden.get_as<float>("loss").item()).epsilon(1e-5));
  CHECK(rel_err(out.logits, golden.get_as<float>("logits")) <= 1e-5);
  t.backward(loss);

  int compared = 0;
  m.visit_params([&](const std::string& name, auto& p) {
    if (!train::is_lora_name(name)) {
      CHECK_FALSE(p.grad.defined());  // frozen base: no gradient buffer
      return;
    }
    INFO(name);
    REQUIRE(p.grad.defined());
    CHECK(rel_err(p.grad, golden.get_as<float>("grad.base_model.model." + name)) <= 1e-4);
    ++compared;
  });
  CHECK(compared == 28);
}

TEST_CASE("LoRA properties: B = 0 is the base; merge reproduces; disabled adapters are the base", "[train][lora][property]") {
  auto c = train_ocr();
  auto base = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  auto base_logits = logits_of(base, c.in);

  auto fresh = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  CHECK(train::attach_lora(fresh, {}, {}, 42) == 14);  // 7 projections x 2 layers, ViT frozen
  CHECK(rel_err(logits_of(fresh, c.in), base_logits) == 0.0);

  auto m = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  train::load_adapter(data + "/lora/adapter", m);
  auto unmerged = logits_of(m, c.in);
  CHECK(rel_err(unmerged, base_logits) > 1e-3);  // the adapter does something
  train::set_adapters_enabled(m, false);
  CHECK(rel_err(logits_of(m, c.in), base_logits) == 0.0);
  train::set_adapters_enabled(m, true);
  train::merge_lora(m);
  CHECK(rel_err(logits_of(m, c.in), unmerged) <= 1e-5);
}

TEST_CASE("our adapter files round-trip and name tensors as PEFT does", "[train][lora]") {
  auto dir = std::filesystem::temp_directory_path() / "vlm_test_adapter";
  std::filesystem::remove_all(dir);
  auto m = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  auto cfg = train::load_adapter(data + "/lora/adapter", m);
  train::save_adapter(dir, m, cfg, {});
  auto saved = io::safetensors_file::open(dir / "adapter_model.safetensors");
  auto ref = io::safetensors_file::open(data + "/lora/adapter/adapter_model.safetensors");
  CHECK(saved.names() == ref.names());
  for (const auto& n : ref.names()) CHECK(saved.get_as<float>(n).to_vector() == ref.get_as<float>(n).to_vector());
  auto again = qwen2_5_vl::from_pretrained<lora_f32>(data + "/qwen2_5_vl/tiny");
  auto cfg2 = train::load_adapter(dir, again);
  CHECK(cfg2.rank == cfg.rank);
  auto c = train_ocr();
  CHECK(rel_err(logits_of(again, c.in), logits_of(m, c.in)) == 0.0);
  // VLM_KEEP_ADAPTER=DIR keeps a copy for tools/check_peft_load.py (peft loading our files).
  if (const char* keep = std::getenv("VLM_KEEP_ADAPTER")) std::filesystem::copy(dir, keep, std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(dir);
}

TEST_CASE("target rules follow ms-swift's all-linear and PEFT's suffix match", "[train][lora]") {
  train::lora_targets t;
  CHECK(train::is_lora_target("model.layers.3.self_attn.q_proj", t));
  CHECK(train::is_lora_target("model.layers.0.mlp.down_proj", t));
  CHECK_FALSE(train::is_lora_target("visual.blocks.0.attn.qkv", t));      // freeze_vit
  CHECK_FALSE(train::is_lora_target("visual.merger.mlp.0", t));           // freeze_aligner
  CHECK_FALSE(train::is_lora_target("lm_head", t));
  t.freeze_vit = false;
  CHECK(train::is_lora_target("visual.blocks.0.attn.qkv", t));
  CHECK_FALSE(train::is_lora_target("visual.merger.mlp.0", t));
  train::lora_targets list;
  list.target_modules = {"q_proj", "gate_proj"};
  CHECK(train::is_lora_target("model.layers.0.self_attn.q_proj", list));
  CHECK(train::is_lora_target("visual.blocks.1.mlp.gate_proj", list));  // PEFT suffix match reaches the ViT
  CHECK_FALSE(train::is_lora_target("model.layers.0.self_attn.k_proj", list));
  CHECK_FALSE(train::is_lora_target("model.layers.0.self_attn.xq_proj", list));
}
