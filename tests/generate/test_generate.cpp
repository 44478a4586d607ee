// Generation: greedy decoding with the KV cache reproduces transformers' generate() on the tiny
// golden checkpoint (ids exactly; every step's logits within 1e-5 relative), also for a
// left-padded batch; sampling is reproducible under a seed and its truncations are tested
// statistically.
#include <catch2/catch.hpp>

#include "../common/golden.hpp"

#include <map>

#include <vlm/generate/generate.hpp>
#include <vlm/io/safetensors.hpp>
#include <vlm/models/qwen2_5_vl/load.hpp>

namespace {
using namespace vlm;
using model_f32 = qwen2_5_vl::model<float, cpu>;
const std::string data_dir = VLM_TEST_DATA_DIR "/qwen2_5_vl";

const model_f32& tiny() {
  static model_f32 m = qwen2_5_vl::from_pretrained<model_f32>(data_dir + "/tiny");
  return m;
}

qwen2_5_vl::model_inputs<float, cpu> read_inputs(const std::string& name) {
  return vlm_test::read_golden_inputs<float>(io::safetensors_file::open(data_dir + "/inputs/" + name + ".safetensors"));
}
}  // namespace

TEST_CASE("greedy generation matches transformers generate() token for token", "[golden][generate]") {
  auto name = GENERATE(as<std::string>{}, "ocr_image_a", "describe_image_b", "two_images", "text_only", "batch_left_pad");
  INFO("case " << name);
  auto in = read_inputs(name);
  auto golden = io::safetensors_file::open(data_dir + "/tiny/cases/" + name + ".safetensors");
  generate::generation_config gen;
  gen.max_new_tokens = 16;  // the golden run disabled EOS stopping
  gen.pad_token_id = 1000;
  generate::generation_hooks hooks;
  hooks.keep_step_logits = true;
  auto r = generate::generate_tokens(tiny(), in, gen, hooks);

  auto ref_ids = golden.get_as<std::int64_t>("generated_ids");
  const std::int64_t B = ref_ids.size(0);
  REQUIRE(static_cast<std::int64_t>(r.tokens.size()) == B);
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> ref(ref_ids.data() + b * 16, ref_ids.data() + (b + 1) * 16);
    CHECK(r.tokens[static_cast<std::size_t>(b)] == ref);
  }
  auto ref_logits = golden.get_as<float>("generated_step_logits").to_vector();  // [16, B, V]
  REQUIRE(r.step_logits.size() == 16);
  const std::size_t per_step = ref_logits.size() / 16;
  double worst = 0;
  for (std::size_t s = 0; s < 16; ++s) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < per_step; ++i) {
      num = std::max(num, std::abs(double(r.step_logits[s][i]) - ref_logits[s * per_step + i]));
      den = std::max(den, std::abs(double(ref_logits[s * per_step + i])));
    }
    worst = std::max(worst, num / den);
  }
  CHECK(worst <= 1e-5);
}

TEST_CASE("stop ids end a row and keep the stop id; max_new_tokens bounds the rest", "[generate]") {
  auto in = read_inputs("ocr_image_a");
  generate::generation_config gen;
  gen.max_new_tokens = 16;
  gen.pad_token_id = 1000;
  gen.stop_token_ids = {893};  // the golden greedy continuation is 84 853 893 ...
  auto r = generate::generate_tokens(tiny(), in, gen);
  CHECK(r.tokens[0] == std::vector<std::int64_t>{84, 853, 893});
  CHECK(r.finish_reason[0] == "stop");
  gen.stop_token_ids.clear();
  gen.max_new_tokens = 5;
  r = generate::generate_tokens(tiny(), in, gen);
  CHECK(r.tokens[0].size() == 5);
  CHECK(r.finish_reason[0] == "length");
}

TEST_CASE("seeded sampling is reproducible and differs across seeds", "[generate]") {
  auto in = read_inputs("text_only");
  generate::generation_config gen;
  gen.max_new_tokens = 12;
  gen.sampling.do_sample = true;
  gen.sampling.temperature = 1.5f;
  gen.seed = 7;
  auto a = generate::generate_tokens(tiny(), in, gen);
  auto b = generate::generate_tokens(tiny(), in, gen);
  CHECK(a.tokens == b.tokens);
  gen.seed = 8;
  auto c = generate::generate_tokens(tiny(), in, gen);
  CHECK(a.tokens != c.tokens);
}

namespace {
// Empirical distribution of sample_next over n draws from fixed logits.
std::map<std::int64_t, double> draw(const std::vector<float>& logits, const generate::sampling_params& p, int n,
                                    std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::map<std::int64_t, double> freq;
  for (int i = 0; i < n; ++i) {
    auto l = logits;
    freq[generate::sample_next(l, {}, {}, p, rng)] += 1.0 / n;
  }
  return freq;
}
}  // namespace

TEST_CASE("sampling distribution: temperature, top_k, top_p, min_p", "[generate][property]") {
  const std::vector<float> logits{2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
  generate::sampling_params p;
  p.do_sample = true;
  const int n = 40000;
  // Plain softmax at T = 1: frequencies within 4 standard errors of the probabilities.
  auto probs = generate::detail::softmax(logits);
  auto f = draw(logits, p, n);
  for (std::size_t i = 0; i < probs.size(); ++i) {
    double se = std::sqrt(probs[i] * (1 - probs[i]) / n);
    CHECK(std::abs(f[static_cast<std::int64_t>(i)] - probs[i]) < 4 * se + 1e-9);
  }
  // Temperature 0.5 sharpens: p ~ softmax(2 * logits).
  p.temperature = 0.5f;
  std::vector<float> doubled;
  for (float x : logits) doubled.push_back(2 * x);
  auto sharp = generate::detail::softmax(doubled);
  f = draw(logits, p, n);
  CHECK(std::abs(f[0] - sharp[0]) < 4 * std::sqrt(sharp[0] * (1 - sharp[0]) / n));
  p.temperature = 1.f;
  // top_k = 2: only ids 0 and 1, renormalised.
  p.top_k = 2;
  f = draw(logits, p, n);
  CHECK(f.size() == 2);
  double p0 = probs[0] / (probs[0] + probs[1]);
  CHECK(std::abs(f[0] - p0) < 4 * std::sqrt(p0 * (1 - p0) / n));
  p.top_k = 0;
  // top_p = 0.6: the ascending cumulative sum drops ids whose mass stays <= 0.4.
  p.top_p = 0.6f;
  f = draw(logits, p, n);
  CHECK(f.count(3) == 0);
  CHECK(f.count(4) == 0);
  CHECK(f.count(0) == 1);
  p.top_p = 1.f;
  // min_p = 0.3: keep ids with p >= 0.3 * max p.
  p.min_p = 0.3f;
  f = draw(logits, p, n);
  for (auto [id, fr] : f) CHECK(probs[static_cast<std::size_t>(id)] >= 0.3 * probs[0]);
  CHECK(f.count(1) == 1);
}

TEST_CASE("repetition penalty: HF counts padding in the context, vLLM does not; presence/frequency", "[generate]") {
  std::vector<float> logits{1.0f, -1.0f, 2.0f, 0.5f};
  generate::sampling_params p;
  p.repetition_penalty = 2.f;
  std::vector<std::int64_t> context{0, 1};
  auto l = logits;
  generate::apply_penalties(l, context, {}, p);
  CHECK(l[0] == 0.5f);   // positive: divided
  CHECK(l[1] == -2.0f);  // negative: multiplied
  CHECK(l[2] == 2.0f);
  // vLLM: output tokens count for repetition; presence and frequency over output only.
  p.semantics = generate::sampling_semantics::vllm;
  p.repetition_penalty = 1.f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  l = logits;
  std::vector<std::int64_t> output{2, 2, 3};
  generate::apply_penalties(l, context, output, p);
  CHECK(l[2] == Approx(2.0f - 0.5f - 0.5f));
  CHECK(l[3] == Approx(0.5f - 0.5f - 0.25f));
  CHECK(l[0] == 1.0f);  // prompt tokens do not get presence/frequency penalties
}
