// GRPO steps end to end on a small random Qwen2.5-VL with the character tokenizer and a few
// synthetic OCR rows: G = 4 completions per prompt, rewards external_ocr_format + format (plus
// a test-only reward that varies on random text, so advantages and gradients are non-zero),
// finite loss and metrics, rewards in range, only LoRA parameters move, the reference log-probs
// are those of the model with adapters off, and two runs with the same seed agree exactly.
// Then the batch geometry and state: gradient accumulation (GA x B updates like one batch of
// GA * B, at the loss and at the trainer level), num_iterations = 2 (the generation batch is
// replayed against the stored old log-probs: rho != 1, clipping acts, the loss is the hand-written
// objective), and resume from a checkpoint (same logged metrics and adapters as an uninterrupted
// run, also mid-way through a generation batch; save_total_limit rotation; a different geometry
// is refused).
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

namespace {
// ||a - b|| / ||b - base|| over every LoRA tensor: how far two updates from `base` disagree,
// relative to the size of the update.
double relative_update_diff(const std::map<std::string, std::vector<float>>& a, const std::map<std::string, std::vector<float>>& b,
                            const std::map<std::string, std::vector<float>>& base) {
  double diff = 0, size = 0;
  for (const auto& [k, v] : b) {
    const auto& x = a.at(k);
    const auto& o = base.at(k);
    for (std::size_t i = 0; i < v.size(); ++i) {
      diff += std::pow(static_cast<double>(x[i]) - v[i], 2);
      size += std::pow(static_cast<double>(v[i]) - o[i], 2);
    }
  }
  return std::sqrt(diff) / std::max(1e-30, std::sqrt(size));
}

// The grpo loss_type objective written out (spec 4.5), in double from the stored f32 inputs:
// mean over rows of the per-row token mean of -min(rho A, clip(rho) A) + beta k3.
struct hand_loss {
  double loss = 0, region = 0;
};
hand_loss grpo_loss_by_hand(const std::vector<float>& lp, const std::vector<float>& old, const std::vector<float>& ref,
                            const std::vector<float>& adv, const std::vector<float>& mask, std::int64_t B, std::int64_t T,
                            double eps, double beta) {
  hand_loss h;
  double tokens = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    double row = 0, n = 0;
    const double A = adv[static_cast<std::size_t>(b)];
    for (std::int64_t t = 0; t < T; ++t) {
      const auto i = static_cast<std::size_t>(b * T + t);
      if (mask[i] == 0.f) continue;
      const double rho = std::exp(static_cast<double>(lp[i]) - old[i]);
      const double clipped = std::clamp(rho, 1 - eps, 1 + eps);
      double l = -std::min(rho * A, clipped * A);
      if (beta != 0) {
        const double d = static_cast<double>(ref[i]) - lp[i];
        l += beta * (std::exp(d) - d - 1);
      }
      row += l;
      n += 1;
      h.region += (rho < 1 - eps && A < 0) || (rho > 1 + eps && A > 0);
    }
    tokens += n;
    h.loss += row / std::max(1.0, n) / static_cast<double>(B);
  }
  h.region /= std::max(1.0, tokens);
  return h;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Every logged number but the wall-clock ones agrees (to 1e-6; in practice exactly).
void check_same_record(const nlohmann::json& a, const nlohmann::json& b) {
  CHECK(a["global_step/max_steps"] == b["global_step/max_steps"]);
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!it.value().is_number() || it.key().rfind("timing/", 0) == 0) continue;
    INFO(b["global_step/max_steps"].get<std::string>() << " " << it.key());
    REQUIRE(a.contains(it.key()));
    CHECK(a[it.key()].get<double>() == Approx(it.value().get<double>()).margin(1e-6).epsilon(0));
  }
  for (const char* k : {"loss", "reward", "kl"}) CHECK(b.contains(k));
}
}  // namespace

TEST_CASE("grpo loss: GA micro-batches of B add up to one batch of GA x B (grpo, dr_grpo, dapo)", "[rl][grpo]") {
  // Rows of different lengths, so bnpo (token mean per micro-batch) is the one type that differs.
  const std::int64_t B = 3, T = 5, GA = 2;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.f, 0.3f);
  std::vector<float> lp(B * GA * T), old(B * GA * T), ref(B * GA * T), mask(B * GA * T), adv(B * GA);
  for (std::size_t i = 0; i < lp.size(); ++i) {
    lp[i] = -1.f + nd(rng);
    old[i] = lp[i] + 0.5f * nd(rng);
    ref[i] = lp[i] + nd(rng);
    mask[i] = static_cast<std::int64_t>(i % T) < 1 + static_cast<std::int64_t>((i / T) % T) ? 1.f : 0.f;
  }
  for (auto& a : adv) a = nd(rng) * 3.f;
  auto full = [&](const std::vector<float>& v, std::int64_t rows, std::int64_t first, std::int64_t cols) {
    return tensor<float, cpu>::from_host({rows, cols}, std::vector<float>(v.begin() + first * cols, v.begin() + (first + rows) * cols));
  };
  double tokens = 0;
  for (float m : mask) tokens += m;
  for (auto type : {rl::loss_type::grpo, rl::loss_type::dr_grpo, rl::loss_type::dapo, rl::loss_type::bnpo}) {
    INFO(rl::to_string(type));
    rl::grpo_loss_options o;
    o.type = type;
    o.beta = 0.04;
    o.max_completion_length = T;
    o.num_items_in_batch = tokens;  // dapo: the whole generation batch
    tape<float> t1;
    auto x1 = t1.watch(full(lp, B * GA, 0, T));
    auto r1 = rl::grpo_loss(t1, x1, full(old, B * GA, 0, T), full(ref, B * GA, 0, T), full(adv, B * GA, 0, 1).view({B * GA}),
                            full(mask, B * GA, 0, T), o);
    t1.backward(r1.loss);
    const auto g1 = t1.grad(x1).to_vector();
    o.gradient_accumulation_steps = static_cast<int>(GA);
    double sum = 0;
    std::vector<float> g2;
    for (std::int64_t k = 0; k < GA; ++k) {
      tape<float> t2;
      auto x2 = t2.watch(full(lp, B, k * B, T));
      auto r2 = rl::grpo_loss(t2, x2, full(old, B, k * B, T), full(ref, B, k * B, T), full(adv, B, k * B, 1).view({B}),
                              full(mask, B, k * B, T), o);
      t2.backward(r2.loss);
      sum += r2.loss.item();
      for (float g : t2.grad(x2).to_vector()) g2.push_back(g);
    }
    double worst = 0;
    for (std::size_t i = 0; i < g1.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(g1[i]) - g2[i]));
    if (type == rl::loss_type::bnpo) {
      CHECK(worst > 1e-4);  // per-micro-batch token means: not the same objective
    } else {
      CHECK(sum == Approx(r1.loss.item()).epsilon(1e-6));
      CHECK(worst < 1e-7);
    }
  }
}

TEST_CASE("grpo trainer: GA = 2 micro-batches of B update like GA = 1 with 2B", "[rl][grpo][slow]") {
  fixture f;
  auto make = [&](const std::string& out, std::int64_t bs, std::int64_t ga) {
    auto a = f.args(out);
    a.per_device_train_batch_size = bs;
    a.gradient_accumulation_steps = ga;
    a.lora.dropout = 0.f;  // dropout masks are drawn per micro-batch
    a.max_grad_norm = 0;   // compare the raw gradient sizes too
    return a;
  };
  auto p1 = f.pipeline(), p2 = f.pipeline();
  rl::grpo_trainer<pipeline_t> one(p1, p1.model(), make("ga1", 8, 1), f.rows);
  rl::grpo_trainer<pipeline_t> two(p2, p2.model(), make("ga2", 4, 2), f.rows);
  const auto base = snapshot(p1.model(), true);
  REQUIRE(snapshot(p2.model(), true) == base);  // same seeded adapters
  for (std::int64_t s = 0; s < 2; ++s) {
    auto before = snapshot(p1.model(), true);
    auto o1 = one.step(s);
    auto o2 = two.step(s);
    INFO("step " << s + 1);
    // one generation batch of 8 completions (2 prompts x G = 4) in both: the same rollout
    REQUIRE(o2.rollout.completions == o1.rollout.completions);
    CHECK(o2.rollout.rewards == o1.rollout.rewards);
    CHECK(o2.record["num_tokens"].get<double>() == o1.record["num_tokens"].get<double>());
    CHECK(o2.loss == Approx(o1.loss).epsilon(1e-5).margin(1e-7));
    CHECK(o2.grad_norm == Approx(o1.grad_norm).epsilon(1e-5));
    CHECK(o2.grad_norm > 0);
    // the micro-batches' log-probs, reassembled, are the full batch's (on completion tokens)
    auto l1 = o1.logps.to_vector(), l2 = o2.logps.to_vector(), m = o1.rollout.completion_mask.to_vector();
    REQUIRE(l1.size() == l2.size());
    for (std::size_t i = 0; i < l1.size(); ++i)
      if (m[i] != 0.f) CHECK(l2[i] == Approx(l1[i]).margin(1e-4));
    CHECK(relative_update_diff(snapshot(p2.model(), true), snapshot(p1.model(), true), before) < 1e-5);
  }
}

TEST_CASE("grpo trainer: num_iterations = 2 replays the generation batch against stored old log-probs", "[rl][grpo][slow]") {
  fixture f;
  auto pipe = f.pipeline();
  auto a = f.args("mu2");
  a.num_iterations = 2;
  a.lora.dropout = 0.f;
  a.epsilon = 0.01;  // so that one update moves some ratios out of [1 - eps, 1 + eps]
  rl::grpo_trainer<pipeline_t> trainer(pipe, pipe.model(), a, f.rows);
  auto o1 = trainer.step(0);
  auto o2 = trainer.step(1);
  auto o3 = trainer.step(2);
  CHECK(o1.generated);
  CHECK_FALSE(o2.generated);
  CHECK(o3.generated);
  CHECK(o1.iteration == 0);
  CHECK(o2.iteration == 1);
  CHECK(o2.rollout.completions == o1.rollout.completions);  // reused, not resampled
  CHECK(o3.rollout.completions != o1.rollout.completions);
  REQUIRE(o1.old_logps.defined());
  REQUIRE(o2.old_logps.defined());
  // stored once, at generation time
  CHECK(o2.old_logps.to_vector() == o1.old_logps.to_vector());
  const auto& r = o2.rollout;
  const std::int64_t B = r.completion_ids.size(0), T = r.completion_ids.size(1);
  const auto mask = r.completion_mask.to_vector();
  auto max_log_ratio = [&](const rl::grpo_step_output& o) {
    const auto lp = o.logps.to_vector(), old = o.old_logps.to_vector();
    double m = 0;
    for (std::size_t i = 0; i < lp.size(); ++i)
      if (mask[i] != 0.f) m = std::max(m, std::fabs(static_cast<double>(lp[i]) - old[i]));
    return m;
  };
  CHECK(max_log_ratio(o1) < 1e-5);  // first pass: old = current weights (rho = 1)
  CHECK(o1.record["clip_ratio/region_mean"].get<double>() == 0.0);
  CHECK(max_log_ratio(o2) > 1e-3);  // second pass after one update: rho != 1
  const auto h = grpo_loss_by_hand(o2.logps.to_vector(), o2.old_logps.to_vector(), o2.ref_logps.to_vector(),
                                   r.advantages.advantages, mask, B, T, a.epsilon, a.beta);
  CHECK(o2.loss == Approx(h.loss).epsilon(1e-5).margin(1e-7));
  CHECK(o2.record["clip_ratio/region_mean"].get<double>() == Approx(h.region).margin(1e-12));
  CHECK(h.region > 0.0);  // the clipping acted ...
  const auto unclipped = grpo_loss_by_hand(o2.logps.to_vector(), o2.logps.to_vector(), o2.ref_logps.to_vector(),
                                           r.advantages.advantages, mask, B, T, a.epsilon, a.beta);
  CHECK(std::fabs(unclipped.loss - o2.loss) > 1e-6);  // ... and rho = 1 would give another loss
  // epochs count optimizer steps: 2 generation batches of 2 prompts x 2 iterations
  CHECK(trainer.steps_per_epoch() == 4);
}

TEST_CASE("grpo trainer: a run resumed from checkpoint-2 logs what the uninterrupted run logs", "[rl][grpo][slow]") {
  fixture f;
  auto a = f.args("full");
  a.max_steps = 4;
  a.save_steps = 2;
  a.logging_steps = 1;
  a.per_device_train_batch_size = 4;
  a.gradient_accumulation_steps = 2;
  a.lr_scheduler_type = "cosine";  // the schedule position must be restored too
  fs::path run;
  std::vector<nlohmann::ordered_json> log;
  std::map<std::string, std::vector<float>> lora_end;
  {
    auto pipe = f.pipeline();
    rl::grpo_trainer<pipeline_t> t(pipe, pipe.model(), a, f.rows);
    auto res = t.train();
    run = res.run_dir;
    log = res.log;
    lora_end = snapshot(pipe.model(), true);
  }
  REQUIRE(log.size() == 4);
  REQUIRE(fs::exists(run / "checkpoint-2" / "optimizer.safetensors"));
  REQUIRE(fs::exists(run / "checkpoint-4"));
  CHECK_FALSE(fs::exists(run / "checkpoint-2" / "generation.json"));  // num_iterations = 1: nothing buffered
  const auto original_log = read_lines(run / "logging.jsonl");
  REQUIRE(original_log.size() == 4);

  // A copy of the run as a killed process left it (its logging.jsonl already has lines 3-4).
  const fs::path copy = f.root / "resumed";
  fs::remove_all(copy);
  fs::copy(run, copy, fs::copy_options::recursive);
  auto b = a;
  b.resume_from_checkpoint = (copy / "checkpoint-2").string();
  b.save_total_limit = 1;
  auto pipe = f.pipeline();
  rl::grpo_trainer<pipeline_t> t(pipe, pipe.model(), b, f.rows);
  auto res = t.train();
  CHECK(res.run_dir == copy);
  REQUIRE(res.log.size() == 4);  // the checkpoint's history, then steps 3 and 4
  for (std::size_t i = 0; i < 4; ++i) check_same_record(nlohmann::json(res.log[i]), nlohmann::json(log[i]));
  const auto lines = read_lines(copy / "logging.jsonl");
  REQUIRE(lines.size() == 4);  // the killed run's lines 3-4 were replaced, not duplicated
  for (std::size_t i = 2; i < 4; ++i) check_same_record(nlohmann::json::parse(lines[i]), nlohmann::json::parse(original_log[i]));
  std::ifstream comp(copy / "completions.jsonl");
  int comp_lines = 0;
  for (std::string l; std::getline(comp, l);) ++comp_lines;
  CHECK(comp_lines == 4);
  // The same adapters at the end.
  const auto lora = snapshot(pipe.model(), true);
  REQUIRE(lora.size() == lora_end.size());
  for (const auto& [k, v] : lora_end) {
    const auto& w = lora.at(k);
    for (std::size_t i = 0; i < v.size(); ++i) CHECK(w[i] == Approx(v[i]).margin(1e-6));
  }
  // save_total_limit = 1: checkpoint-2 was rotated away.
  CHECK(fs::exists(copy / "checkpoint-4" / "adapter_model.safetensors"));
  CHECK_FALSE(fs::exists(copy / "checkpoint-2"));
  CHECK_FALSE(fs::exists(copy / "checkpoint-4.tmp"));

  // Another geometry cannot resume it exactly: refused, naming the key.
  auto c = a;
  c.resume_from_checkpoint = (run / "checkpoint-2").string();
  c.gradient_accumulation_steps = 1;
  auto pipe3 = f.pipeline();
  rl::grpo_trainer<pipeline_t> t3(pipe3, pipe3.model(), c, f.rows);
  CHECK_THROWS_WITH(t3.train(), Catch::Contains("gradient_accumulation_steps was 2 there, 1 now"));
}

TEST_CASE("grpo trainer: resuming mid-way through a generation batch (num_iterations = 2)", "[rl][grpo][slow]") {
  fixture f;
  auto a = f.args("mu");
  a.max_steps = 4;
  a.save_steps = 3;  // checkpoint-3: the second generation batch has one pass left
  a.logging_steps = 1;
  a.num_iterations = 2;
  a.log_completions = false;
  fs::path run;
  std::vector<nlohmann::ordered_json> log;
  {
    auto pipe = f.pipeline();
    rl::grpo_trainer<pipeline_t> t(pipe, pipe.model(), a, f.rows);
    auto res = t.train();
    run = res.run_dir;
    log = res.log;
  }
  REQUIRE(log.size() == 4);
  CHECK(fs::exists(run / "checkpoint-3" / "generation.json"));
  CHECK(fs::exists(run / "checkpoint-3" / "generation.safetensors"));
  CHECK_FALSE(fs::exists(run / "checkpoint-4" / "generation.json"));
  const fs::path copy = f.root / "resumed_mu";
  fs::remove_all(copy);
  fs::create_directories(copy);
  fs::copy(run / "checkpoint-3", copy / "checkpoint-3", fs::copy_options::recursive);
  auto b = a;
  b.resume_from_checkpoint = (copy / "checkpoint-3").string();
  auto pipe = f.pipeline();
  rl::grpo_trainer<pipeline_t> t(pipe, pipe.model(), b, f.rows);
  auto res = t.train();
  REQUIRE(res.log.size() == 4);
  check_same_record(nlohmann::json(res.log[3]), nlohmann::json(log[3]));
  CHECK(log[3]["clip_ratio/region_mean"].get<double>() >= 0.0);
  const auto lines = read_lines(copy / "logging.jsonl");
  REQUIRE(lines.size() == 1);
  check_same_record(nlohmann::json::parse(lines[0]), nlohmann::json(log[3]));
}
