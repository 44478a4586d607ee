// vlm forward: the conformance and debugging tool for Qwen2.5-VL.
//   vlm forward --model DIR [--image PATH]... (--input_ids 1,2,3 | --prompt TEXT)
//               [--min_pixels N --max_pixels N] [--torch_dtype float32|bfloat16] --out FILE.safetensors
// Writes input_ids, pixel_values, image_grid_thw, position_ids, image_embeds and logits (F32/I64).
// With --input_ids the ids are used as given: each image's <|image_pad|> run must already be
// expanded to the image's token count, and the images fill the runs in order.
#pragma once
#include <filesystem>
#include <iostream>

#include <vlm/io/image.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/load.hpp>
#include <vlm/models/qwen2_5_vl/preprocess.hpp>
#include <vlm/tokenizer/chat_template.hpp>
#include <vlm/tokenizer/tokenizer.hpp>

#include "args.hpp"

namespace vlm::cli {

inline qwen2_5_vl::image_processor_config processor_config_for(const std::filesystem::path& model_dir, const args& a) {
  auto file = model_dir / "preprocessor_config.json";
  auto cfg = std::filesystem::exists(file) ? qwen2_5_vl::image_processor_config::load(file.string())
                                           : qwen2_5_vl::image_processor_config{};
  cfg.min_pixels = a.get_int("min_pixels", cfg.min_pixels);
  cfg.max_pixels = a.get_int("max_pixels", cfg.max_pixels);
  return cfg;
}

template <class T>
int run_forward(const args& a) {
  namespace fs = std::filesystem;
  using model_t = qwen2_5_vl::model<T, cpu>;
  const fs::path dir = a.required("model");
  const std::string out_path = a.required("out");
  if (a.has("prompt") == a.has("input_ids")) throw usage_error("give exactly one of --input_ids 1,2,3 and --prompt TEXT");

  auto model = qwen2_5_vl::from_pretrained<model_t>(dir);
  qwen2_5_vl::model_inputs<T, cpu> in;
  std::vector<io::tensor_ref> outputs;
  tensor<float, cpu> pixels32;
  tensor<std::int64_t, cpu> grids;
  auto images = a.all("image");
  if (!images.empty()) {
    std::vector<io::image> loaded;
    for (const auto& p : images) loaded.push_back(io::load_image(p));
    auto processed = qwen2_5_vl::process_images(loaded, processor_config_for(dir, a));
    pixels32 = processed.pixel_values;
    grids = processed.image_grid_thw;
    in.pixel_values = cast<T>(pixels32);
    in.image_grids = processed.grids;
  }
  std::vector<long long> ids;
  if (a.has("input_ids")) {
    ids = args::parse_int_list("input_ids", a.get("input_ids"));
  } else {  // chat template: user turn with the images first, then the prompt
    auto tok = tokenizer::tokenizer::from_dir(dir);
    tokenizer::chat_message user{"user", {}};
    for (const auto& im : images) user.parts.push_back({tokenizer::content_part::kind::image, {}, im, {}, {}, {}, {}});
    user.parts.push_back({tokenizer::content_part::kind::text, a.get("prompt"), {}, {}, {}, {}, {}});
    std::size_t image_i = 0;
    for (auto id : tok.encode(tokenizer::render_chat({user}, true))) {
      if (id == model.cfg.image_token_id && image_i < in.image_grids.size()) ids.insert(ids.end(), in.image_grids[image_i++].patches() / 4, id);
      else ids.push_back(id);
    }
  }
  in.input_ids = tensor<std::int64_t, cpu>::from_host({1, static_cast<std::int64_t>(ids.size())},
                                                      std::vector<std::int64_t>(ids.begin(), ids.end()));
  no_grad ctx;
  auto out = model.forward(ctx, in);

  outputs.push_back(io::tensor_ref::of("input_ids", in.input_ids));
  if (!images.empty()) {
    outputs.push_back(io::tensor_ref::of("pixel_values", pixels32));
    outputs.push_back(io::tensor_ref::of("image_grid_thw", grids));
    outputs.push_back(io::tensor_ref::of("image_embeds", cast<float>(out.image_embeds)));
  }
  outputs.push_back(io::tensor_ref::of("position_ids", out.positions.position_ids));
  outputs.push_back(io::tensor_ref::of("logits", cast<float>(out.logits)));
  io::save_safetensors(out_path, std::move(outputs), {{"producer", "vlm forward"}});
  std::cout << "wrote " << out_path << ": " << ids.size() << " tokens, " << images.size() << " image(s), logits "
            << out.logits.shape().str() << "\n";
  return 0;
}

inline int cmd_forward(int argc, char** argv) {
  args a(argc, argv, 2, {"model", "image", "input_ids", "prompt", "min_pixels", "max_pixels", "torch_dtype", "out"});
  std::string dtype = a.get("torch_dtype", "float32");
  if (dtype == "float32" || dtype == "f32") return run_forward<float>(a);
  if (dtype == "bfloat16" || dtype == "bf16") return run_forward<bf16>(a);
  throw usage_error("--torch_dtype must be float32 or bfloat16, got '" + dtype + "'");
}

}  // namespace vlm::cli
