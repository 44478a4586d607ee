// Qwen2.5-VL with tied word embeddings (tests/data/qwen2_5_vl/tiny_tied, made by
// tools/gen_golden_qwen2_5_vl.py with transformers 4.51.3, eager attention, CPU): 3 text layers,
// vision depth 4 (full attention in blocks 1 and 3), vision hidden 32 != text hidden 64, bf16
// weights on disk (no lm_head.weight), pixel_values from Qwen2VLImageProcessor (rounded to bf16).
// Tolerances (max|ours - ref| / max|ref| at attention_mask == 1 positions, golden.hpp):
//   f32 model vs torch f32: 1e-5; positions and rope deltas exactly.
//   bf16 model vs torch bf16: 2e-2 (torch's own bf16 vs f32 gap is 8.6e-3 on this case; two
//   independent bf16 computations may each be that far from f32), top-1 equal at >= 90% of positions.
// Also: loader errors (missing config key, wrong tensor shape, missing tensor) and the
// HF >= 4.52 key layout (model.language_model.*, model.visual.*).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>  // getpid: per-process scratch folder names

#include <vlm/autograd.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/load.hpp>

#include "../common/golden.hpp"

namespace {

using namespace vlm;
namespace fs = std::filesystem;
using model_f32 = qwen2_5_vl::model<float, cpu>;
using model_bf16 = qwen2_5_vl::model<bf16, cpu>;
const std::string tied_dir = VLM_TEST_DATA_DIR "/qwen2_5_vl/tiny_tied";

constexpr double f32_tolerance = 1e-5;
constexpr double bf16_tolerance = 2e-2;
constexpr double bf16_min_top1_agreement = 0.9;

const model_f32& tied_model() {
  static model_f32 m = qwen2_5_vl::from_pretrained<model_f32>(tied_dir);
  return m;
}

io::safetensors_file open_case(const std::string& name) {
  return io::safetensors_file::open(tied_dir + "/cases/" + name + ".safetensors");
}

// argmax over the last dimension for each row where mask == 1; fraction of rows that agree.
template <class A>
double top1_agreement(const tensor<A>& ours, const tensor<float>& ref, const std::vector<std::int64_t>& mask) {
  const std::int64_t V = ref.size(-1), rows = ref.numel() / V;
  auto a = ours.contiguous().to_vector();
  auto b = ref.contiguous().to_vector();
  std::int64_t agree = 0, n = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    if (mask[static_cast<std::size_t>(r)] != 1) continue;
    std::int64_t ia = 0, ib = 0;
    for (std::int64_t v = 1; v < V; ++v) {
      if (convert<float>(a[static_cast<std::size_t>(r * V + v)]) > convert<float>(a[static_cast<std::size_t>(r * V + ia)])) ia = v;
      if (b[static_cast<std::size_t>(r * V + v)] > b[static_cast<std::size_t>(r * V + ib)]) ib = v;
    }
    agree += ia == ib;
    ++n;
  }
  return n ? static_cast<double>(agree) / static_cast<double>(n) : 1.0;
}

// A scratch copy of the tiny_tied folder (config.json + model.safetensors), removed at scope exit.
struct scratch_checkpoint {
  fs::path dir;
  explicit scratch_checkpoint(const std::string& tag) {
    dir = fs::temp_directory_path() / ("vlm_tied_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(fs::path(tied_dir) / "config.json", dir / "config.json");
  }
  ~scratch_checkpoint() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  nlohmann::json config() const {
    std::ifstream in(dir / "config.json");
    return nlohmann::json::parse(in);
  }
  void write_config(const nlohmann::json& j) const { std::ofstream(dir / "config.json") << j.dump(1); }
  // Writes model.safetensors from the original tensors, each passed through edit(ref) (which may
  // rename it, replace it, or return false to drop it).
  template <class Edit>
  void write_weights(Edit edit) const {
    auto src = io::safetensors_file::open(fs::path(tied_dir) / "model.safetensors");
    std::vector<io::tensor_ref> refs;
    for (const auto& info : src.tensors()) {
      auto r = src.ref(info.name);
      if (edit(r)) refs.push_back(std::move(r));
    }
    io::save_safetensors(dir / "model.safetensors", std::move(refs));
  }
};

}  // namespace

TEST_CASE("qwen2_5_vl tied checkpoint: no lm_head in the file, head shares embed_tokens", "[golden][models]") {
  auto file = io::safetensors_file::open(tied_dir + "/model.safetensors");
  CHECK_FALSE(file.contains("lm_head.weight"));
  const auto& m = tied_model();
  CHECK(m.cfg.text.tie_word_embeddings);
  CHECK_FALSE(m.lm_head.defined());
  CHECK(&m.head() == &m.language.embed_tokens);
  CHECK(m.cfg.vision.hidden_size == 32);
  CHECK(m.cfg.vision.out_hidden_size == 64);
}

TEST_CASE("qwen2_5_vl tiny_tied forward matches transformers", "[golden][models]") {
  const auto& m = tied_model();
  auto name = GENERATE(as<std::string>{}, "one_image", "two_images", "text_only", "batch_left_pad", "large_image");
  INFO("case " << name);
  auto golden = open_case(name);
  auto in = vlm_test::read_golden_inputs<float>(golden);

  vlm_test::recorder<float> rec;
  no_grad ctx;
  ctx.tracer_ = &rec;
  auto out = m.forward(ctx, in);

  CHECK(out.positions.position_ids.to_vector() == golden.get_as<std::int64_t>("position_ids").to_vector());
  CHECK(out.positions.rope_deltas == golden.get_as<std::int64_t>("rope_deltas").to_vector());

  const auto mask = in.attention_mask.to_vector();
  const std::int64_t V = out.logits.size(-1), C = out.hidden.size(-1);
  const std::int64_t n_layers = m.cfg.text.num_hidden_layers;
  if (!in.image_grids.empty()) {
    const auto& vc = m.cfg.vision;
    auto w = qwen2_5_vl::window_partition(in.image_grids, vc.spatial_merge_size, vc.window_units());
    CHECK(w.window_index == golden.get_as<std::int64_t>("vision_window_index").to_vector());
    CHECK(w.cu_window_seqlens == golden.get_as<std::int32_t>("vision_cu_window_seqlens").to_vector());
    double e = vlm_test::golden_relative_error(out.image_embeds, golden.get_as<float>("image_embeds"));
    INFO("image_embeds rel err " << e);
    CHECK(e <= f32_tolerance);
  }
  // hidden_states_0 (embeddings) .. hidden_states_{n-1} (after layer n-2), then the final norm output.
  for (std::int64_t h = 0; h < n_layers; ++h) {
    const std::string n = "hidden_states_" + std::to_string(h);
    double e = vlm_test::golden_relative_error(rec.seen.at(n).view({-1}), golden.get_as<float>(n).view({-1}),
                                               vlm_test::token_rows(mask, C));
    INFO(n << " rel err " << e);
    CHECK(e <= f32_tolerance);
  }
  const std::string last = "hidden_states_" + std::to_string(n_layers);
  double eh = vlm_test::golden_relative_error(out.hidden.view({-1}), golden.get_as<float>(last).view({-1}),
                                              vlm_test::token_rows(mask, C));
  double el = vlm_test::golden_relative_error(out.logits.view({-1}), golden.get_as<float>("logits").view({-1}),
                                              vlm_test::token_rows(mask, V));
  INFO("final hidden rel err " << eh << ", logits rel err " << el);
  CHECK(eh <= f32_tolerance);
  CHECK(el <= f32_tolerance);
}

TEST_CASE("qwen2_5_vl tiny_tied bf16 forward matches transformers in bf16", "[golden][models]") {
  auto m = qwen2_5_vl::from_pretrained<model_bf16>(tied_dir);
  auto inputs = open_case("one_image");
  auto golden = open_case("one_image_bf16");
  auto in = vlm_test::read_golden_inputs<bf16>(inputs);
  no_grad ctx;
  auto out = m.forward(ctx, in);
  const auto mask = in.attention_mask.to_vector();
  const std::int64_t V = out.logits.size(-1);

  double ei = vlm_test::golden_relative_error(out.image_embeds, golden.get_as<float>("image_embeds"));
  double el = vlm_test::golden_relative_error(out.logits.view({-1}), golden.get_as<float>("logits").view({-1}),
                                              vlm_test::token_rows(mask, V));
  double top1 = top1_agreement(out.logits, golden.get_as<float>("logits"), mask);
  // For scale: the same bf16 model against the f32 golden.
  double el32 = vlm_test::golden_relative_error(out.logits.view({-1}), inputs.get_as<float>("logits").view({-1}),
                                                vlm_test::token_rows(mask, V));
  INFO("bf16 image_embeds rel err " << ei << ", logits rel err " << el << " (vs torch f32: " << el32
                                    << "), top-1 agreement " << top1);
  CHECK(ei <= bf16_tolerance);
  CHECK(el <= bf16_tolerance);
  CHECK(top1 >= bf16_min_top1_agreement);
}

TEST_CASE("qwen2_5_vl loader: missing config key names the key", "[models]") {
  scratch_checkpoint ck("cfgkey");
  ck.write_weights([](io::tensor_ref&) { return true; });
  SECTION("top-level key") {
    auto j = ck.config();
    j.erase("num_key_value_heads");
    ck.write_config(j);
    CHECK_THROWS_AS(qwen2_5_vl::from_pretrained<model_f32>(ck.dir), config_error);
    CHECK_THROWS_WITH(qwen2_5_vl::from_pretrained<model_f32>(ck.dir),
                      Catch::Contains("'num_key_value_heads'") && Catch::Contains("config.json"));
  }
  SECTION("nested key") {
    auto j = ck.config();
    j["vision_config"].erase("depth");
    ck.write_config(j);
    CHECK_THROWS_WITH(qwen2_5_vl::from_pretrained<model_f32>(ck.dir), Catch::Contains("'vision_config.depth'"));
  }
}

TEST_CASE("qwen2_5_vl loader: a tensor of the wrong shape names the tensor and both shapes", "[models]") {
  scratch_checkpoint ck("shape");
  const std::string bad = "model.layers.1.mlp.up_proj.weight";  // [128, 64]
  auto replacement = tensor<bf16, cpu>::zeros({127, 64});
  ck.write_weights([&](io::tensor_ref& r) {
    if (r.name == bad) r = io::tensor_ref::of(bad, replacement);
    return true;
  });
  CHECK_THROWS_AS(qwen2_5_vl::from_pretrained<model_f32>(ck.dir), shape_error);
  CHECK_THROWS_WITH(qwen2_5_vl::from_pretrained<model_f32>(ck.dir),
                    Catch::Contains("'" + bad + "'") && Catch::Contains("[127, 64]") && Catch::Contains("[128, 64]"));
}

TEST_CASE("qwen2_5_vl loader: a missing tensor is named", "[models]") {
  scratch_checkpoint ck("missing");
  const std::string gone = "visual.blocks.2.attn.proj.bias";
  ck.write_weights([&](io::tensor_ref& r) { return r.name != gone; });
  CHECK_THROWS_AS(qwen2_5_vl::from_pretrained<model_f32>(ck.dir), format_error);
  CHECK_THROWS_WITH(qwen2_5_vl::from_pretrained<model_f32>(ck.dir), Catch::Contains("'" + gone + "'"));
}

TEST_CASE("qwen2_5_vl loader: HF >= 4.52 key layout loads and gives identical logits", "[golden][models]") {
  scratch_checkpoint ck("hf452");
  std::size_t renamed = 0;
  ck.write_weights([&](io::tensor_ref& r) {
    if (r.name.rfind("visual.", 0) == 0) r.name = "model." + r.name;
    else if (r.name.rfind("model.", 0) == 0) r.name = "model.language_model." + r.name.substr(6);
    else FAIL("unexpected key " << r.name);
    ++renamed;
    return true;
  });
  auto file = io::safetensors_file::open(ck.dir / "model.safetensors");
  REQUIRE(file.contains("model.language_model.embed_tokens.weight"));
  REQUIRE(file.contains("model.visual.patch_embed.proj.weight"));
  REQUIRE_FALSE(file.contains("model.embed_tokens.weight"));
  REQUIRE(renamed == file.size());

  auto m = qwen2_5_vl::from_pretrained<model_f32>(ck.dir);
  auto golden = open_case("two_images");
  auto in = vlm_test::read_golden_inputs<float>(golden);
  no_grad ctx;
  auto ours = m.forward(ctx, in);
  auto ref = tied_model().forward(ctx, in);
  CHECK(ours.logits.to_vector() == ref.logits.to_vector());
  CHECK(ours.image_embeds.to_vector() == ref.image_embeds.to_vector());
}
