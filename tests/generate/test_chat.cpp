// The chat path up to the model's input: messages (the golden cases' own conversations) ->
// chat template -> real Qwen2 tokenizer -> image pad expansion -> ids and pixel_values, compared
// with what transformers' Qwen2_5_VLProcessor produced (input_ids_full_vocab, pixel_values).
#include <catch2/catch.hpp>

#include <fstream>

#include <vlm/generate/chat.hpp>
#include <vlm/io/safetensors.hpp>

namespace {
using namespace vlm;
using model_f32 = qwen2_5_vl::model<float, cpu>;
const std::string data = VLM_TEST_DATA_DIR;
}  // namespace

TEST_CASE("chat template renders the documented strings", "[generate][chat]") {
  using tokenizer::content_part;
  std::vector<tokenizer::chat_message> conv{
      {"user", {{content_part::kind::image, {}, "a.png", {}, {}, {}, {}}, {content_part::kind::text, "Describe this image.", {}, {}, {}, {}, {}}}}};
  CHECK(tokenizer::render_chat(conv, true) ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n");
  conv.insert(conv.begin(), {"system", {{content_part::kind::text, "You are a vision expert.", {}, {}, {}, {}, {}}}});
  CHECK(tokenizer::render_chat(conv, false) ==
        "<|im_start|>system\nYou are a vision expert.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n");
  CHECK(tokenizer::render_chat(conv, false, true).find("Picture 1: <|vision_start|>") != std::string::npos);
}

TEST_CASE("malformed messages name the JSON pointer", "[generate][chat]") {
  auto bad = nlohmann::json::parse(R"([{"role": "user", "content": [{"type": "text"}]}])");
  CHECK_THROWS_WITH(tokenizer::parse_messages(bad, "m.json"), Catch::Contains("m.json:/0/content/0"));
  CHECK_THROWS_WITH(tokenizer::parse_messages(nlohmann::json::parse(R"([{"content": "x"}])"), "m.json"),
                    Catch::Contains("role"));
  CHECK_THROWS_WITH(tokenizer::parse_messages(nlohmann::json::parse(R"({"role": "user"})"), "m.json"),
                    Catch::Contains("array"));
}

TEST_CASE("prepare() reproduces the HF processor's ids and pixel_values", "[golden][generate][chat]") {
  auto model = qwen2_5_vl::from_pretrained<model_f32>(data + "/qwen2_5_vl/tiny");
  // The tiny config uses tiny special ids; the real tokenizer needs the real ones.
  model.cfg.image_token_id = 151655;
  generate::chat_pipeline<model_f32> pipe(std::move(model), tokenizer::tokenizer::from_dir(data + "/tokenizer"),
                                          qwen2_5_vl::image_processor_config::load(data + "/qwen2_5_vl/inputs/preprocessor_config.json"));
  pipe.image_base_dir() = data + "/qwen2_5_vl/images";
  std::ifstream in(data + "/qwen2_5_vl/inputs/conversations.json");
  auto all = nlohmann::json::parse(in);

  auto name = GENERATE(as<std::string>{}, "ocr_image_a", "describe_image_b", "two_images", "text_only", "batch_left_pad");
  INFO("case " << name);
  auto golden = io::safetensors_file::open(data + "/qwen2_5_vl/inputs/" + name + ".safetensors");
  auto ids = golden.get_as<std::int64_t>("input_ids_full_vocab");
  auto mask = golden.get_as<std::int64_t>("attention_mask");
  const std::int64_t L = ids.size(1);
  std::vector<float> pixels;
  const auto& convs = all.at(name).at("conversations");
  for (std::size_t b = 0; b < convs.size(); ++b) {
    auto p = pipe.prepare(tokenizer::parse_messages(convs[b], name));
    std::vector<std::int64_t> ref;
    for (std::int64_t l = 0; l < L; ++l)
      if (mask.at({static_cast<std::int64_t>(b), l})) ref.push_back(ids.at({static_cast<std::int64_t>(b), l}));
    CHECK(p.ids == ref);
    if (p.has_images) {
      auto v = p.images.pixel_values.to_vector();
      pixels.insert(pixels.end(), v.begin(), v.end());
    }
  }
  if (golden.contains("pixel_values")) {
    auto ref = golden.get_as<float>("pixel_values").to_vector();
    REQUIRE(pixels.size() == ref.size());
    float worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(pixels[i] - ref[i]));
    CHECK(worst <= 1e-6f);
  }
}
