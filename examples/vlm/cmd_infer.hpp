// vlm infer: the seed's QwenVLModel / swift infer.
//   vlm infer --model DIR --image PATH --prompt TEXT [--system TEXT] [sampling flags] [--stream]
//   vlm infer --model DIR --messages FILE.json
//   vlm infer --model DIR --val_dataset X.jsonl --result_path Y.jsonl [--max_batch_size N]
// Sampling flags (swift/vLLM names): --max_new_tokens --temperature --top_p --top_k --min_p
// --repetition_penalty --presence_penalty --frequency_penalty --seed --stop_words W...
// --stop_token_ids 1,2 --sampling_semantics hf|vllm. --temperature 0 means greedy. Unset flags
// take generation_config.json's values, as swift and vLLM do.
// Prints vision ms, prefill tokens/s and decode tokens/s after each run (stderr).
#pragma once
#include <filesystem>
#include <fstream>
#include <iostream>

#include <vlm/generate/chat.hpp>
#include <vlm/train/lora_model.hpp>
#include <vlm/train/peft.hpp>

#include "args.hpp"

namespace vlm::cli {

inline const std::set<std::string> infer_flags = {
    "model", "image", "prompt", "system", "messages", "val_dataset", "result_path", "max_batch_size", "max_new_tokens",
    "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty", "seed",
    "stop_words", "stop_token_ids", "sampling_semantics", "min_pixels", "max_pixels", "stream", "torch_dtype",
    "max_model_len", "infer_backend", "adapters", "ckpt_dir"};

inline nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw vlm::io_error("[infer] cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw vlm::format_error("[infer] '" + path + "' is not valid JSON: " + e.what());
  }
}

// The model folder: --model, or --ckpt_dir (the spelling of the seed's `swift infer --ckpt_dir
// ...-merged`), or with --adapters alone the base model the adapter names
// (adapter_config.json's base_model_name_or_path, as swift infer --adapters finds it).
inline std::string infer_model_dir(const args& a) {
  if (a.has("model")) return a.get("model");
  if (a.has("ckpt_dir")) return a.get("ckpt_dir");
  if (a.has("adapters")) {
    const auto cfg_path = std::filesystem::path(a.get("adapters")) / "adapter_config.json";
    const auto cfg = read_json_file(cfg_path.string());
    const std::string base = cfg.value("base_model_name_or_path", std::string());
    if (base.empty()) throw usage_error("'" + cfg_path.string() + "' names no base_model_name_or_path; give --model BASE");
    return base;
  }
  throw usage_error("missing required flag --model (or --ckpt_dir, or --adapters)");
}



inline generate::generation_config generation_from_flags(const args& a, generate::generation_config g) {
  g.max_new_tokens = a.get_int("max_new_tokens", g.max_new_tokens);
  if (a.has("temperature")) {
    g.sampling.temperature = static_cast<float>(a.get_double("temperature", 1.0));
    g.sampling.do_sample = g.sampling.temperature > 0.f;
  }
  g.sampling.top_p = static_cast<float>(a.get_double("top_p", g.sampling.top_p));
  g.sampling.top_k = a.get_int("top_k", g.sampling.top_k);
  g.sampling.min_p = static_cast<float>(a.get_double("min_p", g.sampling.min_p));
  g.sampling.repetition_penalty = static_cast<float>(a.get_double("repetition_penalty", g.sampling.repetition_penalty));
  g.sampling.presence_penalty = static_cast<float>(a.get_double("presence_penalty", 0.0));
  g.sampling.frequency_penalty = static_cast<float>(a.get_double("frequency_penalty", 0.0));
  g.seed = static_cast<std::uint64_t>(a.get_int("seed", 0));
  if (a.has("stop_token_ids"))
    for (auto id : args::parse_int_list("stop_token_ids", a.get("stop_token_ids"))) g.stop_token_ids.push_back(id);
  std::string sem = a.get("sampling_semantics", "hf");
  if (sem == "vllm") g.sampling.semantics = generate::sampling_semantics::vllm;
  else if (sem != "hf") throw usage_error("--sampling_semantics must be hf or vllm, got '" + sem + "'");
  if (g.sampling.semantics == generate::sampling_semantics::vllm && (g.sampling.presence_penalty || g.sampling.frequency_penalty)) {
  } else if (g.sampling.presence_penalty || g.sampling.frequency_penalty) {
    throw usage_error("--presence_penalty/--frequency_penalty need --sampling_semantics vllm");
  }
  return g;
}

// One dataset row (swift's formats) -> a conversation and its reference answer.
inline std::pair<generate::conversation, std::string> row_to_conversation(const nlohmann::json& row, const std::string& where,
                                                                          const std::string& system) {
  using tokenizer::content_part;
  generate::conversation conv;
  std::string reference;
  if (row.contains("messages")) {
    auto msgs = row["messages"];
    if (msgs.is_array() && !msgs.empty() && msgs.back().value("role", "") == "assistant") {
      reference = msgs.back().value("content", "");
      msgs.erase(msgs.end() - 1);
    }
    conv = tokenizer::parse_messages(msgs, where + " messages");
    std::vector<std::string> images;
    if (row.contains("images")) for (auto& im : row["images"]) images.push_back(im.is_string() ? im.get<std::string>() : im.value("path", ""));
    // swift puts <image> tags in the text; each becomes an image part in place.
    std::size_t next_image = 0;
    for (auto& m : conv) {
      std::vector<content_part> parts;
      for (auto& p : m.parts) {
        if (p.type != content_part::kind::text) { parts.push_back(p); continue; }
        std::string t = p.text;
        std::size_t at;
        while ((at = t.find("<image>")) != std::string::npos && next_image < images.size()) {
          if (at) parts.push_back({content_part::kind::text, t.substr(0, at), {}, {}, {}, {}, {}});
          parts.push_back({content_part::kind::image, {}, images[next_image++], {}, {}, {}, {}});
          t = t.substr(at + 7);
        }
        if (!t.empty()) parts.push_back({content_part::kind::text, t, {}, {}, {}, {}, {}});
      }
      m.parts = parts;
    }
    return {conv, reference};
  }
  if (!row.contains("query") || !row["query"].is_string())
    throw vlm::format_error("[infer] " + where + ": expected a 'query' string or a 'messages' list");
  if (!system.empty()) conv.push_back({"system", {{content_part::kind::text, system, {}, {}, {}, {}, {}}}});
  tokenizer::chat_message user{"user", {}};
  std::vector<std::string> images;
  if (row.contains("images")) for (auto& im : row["images"]) images.push_back(im.get<std::string>());
  if (row.contains("image_path")) images.push_back(row["image_path"].get<std::string>());
  for (auto& im : images) user.parts.push_back({content_part::kind::image, {}, im, {}, {}, {}, {}});
  user.parts.push_back({content_part::kind::text, row["query"].get<std::string>(), {}, {}, {}, {}, {}});
  conv.push_back(user);
  if (row.contains("response") && row["response"].is_string()) reference = row["response"].get<std::string>();
  return {conv, reference};
}

// Model: qwen2_5_vl::model<T, cpu>, or train::lora_model<float, cpu> for --adapters (the
// adapter is loaded and merged in memory, as `swift infer --adapters` does).
template <class T, class Model = qwen2_5_vl::model<T, cpu>>
int run_infer(const args& a) {
  namespace fs = std::filesystem;
  using model_t = Model;
  if (a.has("infer_backend") && a.get("infer_backend") != "pt")
    std::cerr << "vlm infer: warning: --infer_backend " << a.get("infer_backend") << " is served by vlm's own engine\n";
  auto pipe = generate::chat_pipeline<model_t>::from_pretrained(infer_model_dir(a));
  if constexpr (!std::is_same_v<Model, qwen2_5_vl::model<T, cpu>>) {
    train::load_adapter(a.get("adapters"), pipe.model());
    train::merge_lora(pipe.model());
  }
  apply_pixel_limits(a, pipe.processor());
  if (a.has("max_model_len")) pipe.max_model_len() = a.get_int("max_model_len", 0);
  auto gen = generation_from_flags(a, pipe.defaults());
  auto stops = a.all("stop_words");
  const std::string system = a.get("system");

  auto report = [&] {
    const auto& t = pipe.timings();
    std::fprintf(stderr, "[vlm infer] vision %.1f ms | prefill %lld tokens, %.1f tokens/s | decode %lld tokens, %.1f tokens/s\n",
                 t.vision_ms, static_cast<long long>(t.prompt_tokens), t.prefill_tokens_per_s(),
                 static_cast<long long>(t.generated_tokens), t.decode_tokens_per_s());
  };

  if (a.has("val_dataset")) {
    const std::string in_path = a.get("val_dataset");
    const std::string out_path = a.required("result_path");
    pipe.image_base_dir() = fs::path(in_path).parent_path();
    std::ifstream in(in_path);
    if (!in) throw vlm::io_error("[infer] cannot open --val_dataset '" + in_path + "'");
    std::vector<std::pair<generate::conversation, std::string>> rows;
    std::vector<nlohmann::json> raw;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json row;
      try {
        row = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        throw vlm::format_error("[infer] " + in_path + ":" + std::to_string(n) + ": not valid JSON: " + e.what());
      }
      rows.push_back(row_to_conversation(row, in_path + ":" + std::to_string(n), system));
      raw.push_back(row);
    }
    const std::size_t bs = static_cast<std::size_t>(std::max<long long>(1, a.get_int("max_batch_size", 8)));
    std::ofstream out(out_path + ".tmp");
    if (!out) throw vlm::io_error("[infer] cannot write '" + out_path + "'");
    for (std::size_t i = 0; i < rows.size(); i += bs) {
      std::vector<generate::conversation> batch;
      for (std::size_t k = i; k < std::min(rows.size(), i + bs); ++k) batch.push_back(rows[k].first);
      auto answers = pipe.respond(batch, gen, stops);
      for (std::size_t k = 0; k < answers.size(); ++k) {
        nlohmann::json r = raw[i + k];
        r["response"] = answers[k].text;
        r["labels"] = rows[i + k].second;
        r["finish_reason"] = answers[k].finish_reason;
        out << r.dump() << "\n";
      }
      report();
    }
    out.close();
    fs::rename(out_path + ".tmp", out_path);
    std::cout << "wrote " << rows.size() << " results to " << out_path << "\n";
    return 0;
  }

  generate::conversation conv;
  if (a.has("messages")) {
    conv = tokenizer::parse_messages(read_json_file(a.get("messages")), a.get("messages"));
    pipe.image_base_dir() = fs::path(a.get("messages")).parent_path();
  } else {
    using tokenizer::content_part;
    if (!a.has("prompt")) throw usage_error("give --prompt TEXT (with --image PATH), --messages FILE.json or --val_dataset X.jsonl");
    if (!system.empty()) conv.push_back({"system", {{content_part::kind::text, system, {}, {}, {}, {}, {}}}});
    tokenizer::chat_message user{"user", {}};
    for (const auto& im : a.all("image")) {
      content_part p{content_part::kind::image, {}, im, {}, {}, {}, {}};
      apply_pixel_limits(a, p);
      user.parts.push_back(p);
    }
    user.parts.push_back({content_part::kind::text, a.get("prompt"), {}, {}, {}, {}, {}});
    conv.push_back(user);
  }
  const bool stream = a.get_bool("stream", false);
  auto answers = pipe.respond({conv}, gen, stops, stream ? std::function<void(std::size_t, const std::string&)>(
                                                               [](std::size_t, const std::string& s) { std::cout << s << std::flush; })
                                                         : nullptr);
  if (stream) std::cout << "\n";
  else std::cout << answers[0].text << "\n";
  report();
  return 0;
}

inline int cmd_infer(int argc, char** argv) {
  args a(argc, argv, 2, infer_flags, {"stream"});
  std::string dtype = a.get("torch_dtype", "");
  if (dtype.empty()) {
    auto cfg = read_json_file((std::filesystem::path(infer_model_dir(a)) / "config.json").string());
    dtype = cfg.value("torch_dtype", "bfloat16");
  }
  if (a.has("adapters")) {
    if (dtype != "float32" && dtype != "f32")
      std::cerr << "vlm infer: warning: with --adapters the model runs in float32 (the LoRA merge is done in f32)\n";
    return run_infer<float, train::lora_model<float, cpu>>(a);
  }
  if (dtype == "float32" || dtype == "f32") return run_infer<float>(a);
  if (dtype == "bfloat16" || dtype == "bf16") return run_infer<bf16>(a);
  throw usage_error("--torch_dtype must be float32 or bfloat16, got '" + dtype + "'");
}

}  // namespace vlm::cli
