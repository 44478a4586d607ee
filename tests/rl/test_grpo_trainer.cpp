// GRPO steps end to end on a small random Qwen2.5-VL with the character tokenizer and a few
// synthetic OCR rows: G = 4 completions per prompt, rewards external_ocr_format + format (plus
// a test-only reward that varies on random text, so advantages and gradients are non-zero),
// finite loss and metrics, rewards in range, only LoRA parameters move, the reference log-probs
// are those of the model with adapters off, and two runs with the same seed agree exactly.
#include <catch2/catch.hpp>

#include "../common/random_model.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <vlm/data/char_tokenizer.hpp>
#include <vlm/data/synthetic_ocr.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/rl/grpo.hpp>

namespace {
using namespace vlm;
namespace fs = std::filesystem;
using model_t = train::lora_model<float, cpu>;
using pipeline_t = generate::chat_pipeline<model_t>;

// Test-only reward: an FNV-1a hash of the completion text mapped to [0, 1) (differs between
// different random completions, so groups have non-zero reward std).
vlm::rl::reward_registrar hash_reward{"test_grpo_text_hash", [](const vlm::rl::reward_options&) {
  return vlm::rl::per_sample([](const vlm::rl::reward_input& x) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : x.completion) h = (h ^ c) * 1099511628211ull;
    return static_cast<double>(h % 1000) / 1000.0;
  });
}};

// A model folder like `vlm init-model --char_vocab true` (small random weights).
fs::path make_char_model(const fs::path& dir) {
  fs::create_directories(dir);
  data::write_char_tokenizer(dir, data::ocr_tokenizer_charset());
  auto tok = tokenizer::tokenizer::from_dir(dir);
  const std::int64_t vocab = (static_cast<std::int64_t>(tok.vocab_size()) + 63) / 64 * 64;
  const std::int64_t image = tok.token_to_id("<|image_pad|>"), vstart = tok.token_to_id("<|vision_start|>"),
                     vend = tok.token_to_id("<|vision_end|>"), eos = tok.eos_token_id(), pad = tok.pad_token_id();
  nlohmann::json cfg = {
      {"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
      {"intermediate_size", 64}, {"vocab_size", vocab}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1e6},
      {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}}, {"image_token_id", image},
      {"video_token_id", image + 1}, {"vision_start_token_id", vstart}, {"vision_end_token_id", vend},
      {"bos_token_id", pad}, {"eos_token_id", eos}, {"tie_word_embeddings", true}, {"torch_dtype", "float32"},
      {"max_position_embeddings", 4096},
      {"vision_config", {{"depth", 2}, {"hidden_size", 32}, {"num_heads", 4}, {"intermediate_size", 64},
                         {"out_hidden_size", 32}, {"fullatt_block_indexes", {1}}, {"window_size", 112}}}};
  std::ofstream(dir / "preprocessor_config.json") << R"({"min_pixels": 3136, "max_pixels": 12544})";
  std::ofstream(dir / "generation_config.json") << nlohmann::json{{"eos_token_id", {eos}}, {"pad_token_id", pad}}.dump();
  vlm_test::write_random_model(dir, cfg);
  return dir;
}

struct fixture {
  fs::path root, model_dir, data_dir;
  std::vector<rl::grpo_row> rows;
  fixture() {
    root = fs::temp_directory_path() / "vlm_test_grpo_trainer";
    fs::remove_all(root);
    model_dir = make_char_model(root / "model");
    data_dir = root / "data";
    auto sum = data::make_ocr_dataset(data_dir, 4, 0, 7);
    rows = rl::read_grpo_jsonl(sum.train_jsonl, "");
  }
  pipeline_t pipeline() const {
    auto p = pipeline_t::from_pretrained(model_dir);
    p.image_base_dir() = data_dir;
    return p;
  }
  rl::grpo_args args(const std::string& out) const {
    rl::grpo_args a;
    a.num_generations = 4;
    a.per_device_train_batch_size = 8;  // 2 prompts x 4 completions
    a.max_completion_length = 12;
    a.max_steps = 2;
    a.learning_rate = 2e-2;
    a.lr_scheduler_type = "constant";
    a.beta = 0.04;
    a.temperature = 1.0f;
    a.top_p = 1.0f;
    a.top_k = 0;
    a.reward_funcs = {"external_ocr_format", "format", "test_grpo_text_hash"};
    a.output_dir = (root / out).string();
    a.add_version = false;
    a.quiet = true;
    a.log_completions = true;
    a.seed = 3;
    return a;
  }
};

std::map<std::string, std::vector<float>> snapshot(model_t& m, bool lora) {
  std::map<std::string, std::vector<float>> out;
  m.visit_params([&](const std::string& name, auto& p) {
    if (train::is_lora_name(name) != lora) return;
    if constexpr (std::is_same_v<std::decay_t<decltype(p)>, parameter<float, cpu>>) out[name] = p.value.contiguous().to_vector();
  }, "");
  return out;
}

// log_softmax(logits / T)[id] at the completion positions, by hand from the model's standard
// full-sequence forward, with adapters off.
std::vector<double> reference_by_hand(model_t& m, const rl::grpo_rollout& r, float temperature) {
  train::set_adapters_enabled(m, false);
  no_grad ng;
  auto out = m.forward(ng, r.inputs);
  train::set_adapters_enabled(m, true);
  auto logits = out.logits.contiguous();
  const std::int64_t B = r.completion_ids.size(0), Tc = r.completion_ids.size(1), S = logits.size(1), V = logits.size(2);
  std::vector<double> lp;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < Tc; ++t) {
      const float* row = logits.data() + (b * S + r.prompt_length - 1 + t) * V;
      double mx = -1e300, s = 0;
      for (std::int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(row[v]) / temperature);
      for (std::int64_t v = 0; v < V; ++v) s += std::exp(static_cast<double>(row[v]) / temperature - mx);
      lp.push_back(static_cast<double>(row[r.completion_ids.data()[b * Tc + t]]) / temperature - mx - std::log(s));
    }
  return lp;
}

// The rollout with sampled vision tokens (<|image_pad|>, <|vision_start|>, <|vision_end|>) in the
// completions replaced by a letter, so that the standard forward (which would treat them as
// image slots) applies.
rl::grpo_rollout without_vision_tokens(const rl::grpo_rollout& r, const model_t& m, std::int64_t letter) {
  rl::grpo_rollout c = r;
  c.inputs.input_ids = r.inputs.input_ids.clone();
  c.completion_ids = r.completion_ids.clone();
  const std::int64_t B = c.completion_ids.size(0), Tc = c.completion_ids.size(1), S = c.inputs.input_ids.size(1);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < Tc; ++t) {
      auto& id = c.completion_ids.data()[b * Tc + t];
      if (id == m.cfg.image_token_id || id == m.cfg.vision_start_token_id || id == m.cfg.vision_end_token_id) {
        id = letter;
        c.inputs.input_ids.data()[b * S + c.prompt_length + t] = letter;
      }
    }
  return c;
}

std::vector<double> adapters_off_logps(model_t& m, const rl::grpo_rollout& r, float temperature) {
  train::set_adapters_enabled(m, false);
  no_grad ng;
  auto lp = rl::completion_logps(ng, m, r.inputs, r.prompt_length, r.completion_ids, temperature);
  train::set_adapters_enabled(m, true);
  std::vector<double> out;
  for (float x : lp.contiguous().to_vector()) out.push_back(x);
  return out;
}
}  // namespace

TEST_CASE("grpo trainer: two steps, G = 4, OCR + format rewards", "[rl][grpo][slow]") {
  fixture f;
  REQUIRE(f.rows.size() == 4);
  CHECK(!f.rows[0].solution.empty());  // the OCR rows' response is the solution

  auto pipe = f.pipeline();
  rl::grpo_trainer<pipeline_t> trainer(pipe, pipe.model(), f.args("a"), f.rows);
  const auto base0 = snapshot(pipe.model(), false);
  const auto lora0 = snapshot(pipe.model(), true);
  REQUIRE(!lora0.empty());

  std::vector<rl::grpo_step_output> outs;
  for (std::int64_t s = 0; s < 2; ++s) outs.push_back(trainer.step(s));

  for (const auto& o : outs) {
    const auto& r = o.rollout;
    REQUIRE(r.completions.size() == 8);
    CHECK(r.completion_ids.size(0) == 8);
    CHECK(r.completion_ids.size(1) <= 12);
    // prompts repeated G times consecutively
    for (std::size_t i = 0; i < 8; ++i) CHECK(r.row_index[i] == r.row_index[i / 4 * 4]);
    CHECK(std::isfinite(o.loss));
    CHECK(std::isfinite(o.grad_norm));
    for (auto it = o.record.begin(); it != o.record.end(); ++it) {
      INFO(it.key());
      CHECK(std::isfinite(it.value().get<double>()));
    }
    for (const char* key : {"loss", "grad_norm", "learning_rate", "reward", "reward_std", "frac_reward_zero_std",
                            "rewards/external_ocr_format/mean", "rewards/format/mean", "kl", "clip_ratio/region_mean",
                            "completions/mean_length", "timing/rollout_s", "timing/reward_s", "timing/train_s"})
      CHECK(o.record.contains(key));
    for (double v : r.rewards_per_func[0]) CHECK((v >= 0.0 && v <= 1.0));  // external_ocr_format
    for (double v : r.rewards_per_func[1]) CHECK((v == 0.0 || v == 1.0));  // format
    for (double v : r.rewards) CHECK((v >= 0.0 && v <= 3.0));
    CHECK(o.record["kl"].get<double>() >= 0.0);
    CHECK(o.record["clip_ratio/region_mean"].get<double>() == 0.0);  // rho = 1 with num_iterations = 1
    // completion mask: ones then zeros; a stop id, if any, is the last masked token
    const std::int64_t Tc = r.completion_mask.size(1);
    for (std::int64_t b = 0; b < 8; ++b) {
      std::int64_t n = 0;
      for (std::int64_t t = 0; t < Tc; ++t) n += r.completion_mask.data()[b * Tc + t] != 0.f;
      for (std::int64_t t = 0; t < n; ++t) CHECK(r.completion_mask.data()[b * Tc + t] == 1.f);
      CHECK((r.finish_reason[static_cast<std::size_t>(b)] == "stop" || n == 12));
    }
    // reference log-probs = the model with adapters off (base weights never change)
    REQUIRE(o.ref_logps.defined());
    const auto off = adapters_off_logps(pipe.model(), r, 1.0f);
    const auto ref = o.ref_logps.contiguous().to_vector();
    REQUIRE(ref.size() == off.size());
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(ref[i] == Approx(off[i]).margin(1e-5));
    // ... and completion_logps is the standard forward's log_softmax at positions L-1+t
    const auto plain = without_vision_tokens(r, pipe.model(), pipe.tok().token_to_id("A"));
    const auto by_hand = reference_by_hand(pipe.model(), plain, 1.0f);
    const auto off_plain = adapters_off_logps(pipe.model(), plain, 1.0f);
    REQUIRE(by_hand.size() == off_plain.size());
    for (std::size_t i = 0; i < by_hand.size(); ++i) CHECK(off_plain[i] == Approx(by_hand[i]).margin(1e-4));
  }
  // Step 1: LoRA B starts at zero, so policy = reference; step 2 after an update: they differ.
  {
    auto lp = outs[0].logps.contiguous().to_vector(), ref = outs[0].ref_logps.contiguous().to_vector();
    for (std::size_t i = 0; i < lp.size(); ++i) CHECK(lp[i] == Approx(ref[i]).margin(1e-4));
    CHECK(outs[0].record["kl"].get<double>() == Approx(0.0).margin(1e-6));
    auto lp2 = outs[1].logps.contiguous().to_vector(), ref2 = outs[1].ref_logps.contiguous().to_vector();
    double diff = 0;
    for (std::size_t i = 0; i < lp2.size(); ++i) diff = std::max(diff, std::fabs(static_cast<double>(lp2[i] - ref2[i])));
    CHECK(diff > 1e-6);
  }
  // Some group had different rewards, so there was a gradient.
  CHECK(outs[0].record["frac_reward_zero_std"].get<double>() < 1.0);
  CHECK(outs[0].grad_norm > 0.0);
  // Only the adapters moved.
  CHECK(snapshot(pipe.model(), false) == base0);
  auto lora1 = snapshot(pipe.model(), true);
  bool changed = false;
  for (auto& [k, v] : lora1) changed = changed || v != lora0.at(k);
  CHECK(changed);
  // Adapters are on again after the reference pass.
  bool all_on = true;
  train::for_each_lora(pipe.model(), [&](const std::string&, auto& layer) { all_on = all_on && layer.enabled; });
  CHECK(all_on);

  // Same seed, fresh model: exactly the same completions, rewards, losses and adapters.
  auto pipe2 = f.pipeline();
  rl::grpo_trainer<pipeline_t> again(pipe2, pipe2.model(), f.args("b"), f.rows);
  for (std::int64_t s = 0; s < 2; ++s) {
    auto o = again.step(s);
    CHECK(o.rollout.completions == outs[static_cast<std::size_t>(s)].rollout.completions);
    CHECK(o.rollout.rewards == outs[static_cast<std::size_t>(s)].rollout.rewards);
    CHECK(o.loss == outs[static_cast<std::size_t>(s)].loss);
  }
  CHECK(snapshot(pipe2.model(), true) == lora1);
}

TEST_CASE("grpo trainer: train() writes logging.jsonl, completions.jsonl and the adapter", "[rl][grpo][slow]") {
  fixture f;
  auto pipe = f.pipeline();
  auto a = f.args("run");
  a.logging_steps = 1;
  a.beta = 0.0;  // no reference pass: no kl key
  rl::grpo_trainer<pipeline_t> trainer(pipe, pipe.model(), a, f.rows);
  auto res = trainer.train();
  REQUIRE(res.log.size() == 2);
  CHECK(res.log[0].begin().key() == "loss");
  CHECK_FALSE(res.log[0].contains("kl"));
  CHECK(res.log[1]["global_step/max_steps"] == "2/2");
  std::ifstream comp(res.run_dir / "completions.jsonl");
  int lines = 0;
  for (std::string l; std::getline(comp, l);) {
    auto j = nlohmann::json::parse(l);
    CHECK(j["completion"].size() == 8);
    CHECK(j.contains("external_ocr_format"));
    CHECK(j.contains("advantages"));
    ++lines;
  }
  CHECK(lines == 2);
  CHECK(fs::exists(res.run_dir / "logging.jsonl"));
  CHECK(fs::exists(res.last_checkpoint / "adapter_model.safetensors"));
}

TEST_CASE("grpo rows: messages without a reply, solution column or response", "[rl][grpo]") {
  auto row = rl::parse_grpo_row(nlohmann::json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"solution", "x"}}, "r", "");
  CHECK(row.solution == "x");
  CHECK(row.prompt.size() == 1);
  auto q = rl::parse_grpo_row(nlohmann::json{{"query", "q"}, {"response", "ans"}}, "r", "sys");
  CHECK(q.solution == "ans");
  CHECK(q.prompt.size() == 2);
}
