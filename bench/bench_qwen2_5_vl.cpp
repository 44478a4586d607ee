// Qwen2.5-VL CPU inference time: the vision tower on one image and a text prefill, for
//   tiny: tests/data/qwen2_5_vl/tiny (the golden checkpoint, f32)
//   3b:   Qwen2.5-VL-3B shapes (spec 1.1; config built here), random bf16 weights, ~7.5 GB RAM
// Vision: one image of grid (1, 32, 32) = 1024 patches -> 256 image tokens.
// Prefill: 256 text tokens through every decoder layer and the final norm, then lm_head on the
// last position only (what generation needs; full [256, 151936] logits would add 160 GFLOP).
// FLOPs: 2 x (weights touched) x (rows) for every linear, plus attention QK^T and PV counted
// over the full S x S square (4 S^2 D per head; no causal halving), windows for the ViT.
// The machine may be shared: besides wall time, the process CPU time per repeat (all threads,
// CLOCK_PROCESS_CPUTIME_ID) is reported, and "cpu_share" = cpu time / (wall x pool threads).
// Output: a table on stderr, one JSON line per case on stdout.
//   bench_qwen2_5_vl [--only tiny|3b] [--min-time SECONDS]
#include <time.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "harness.hpp"
#include "vlm/autograd.hpp"
#include "vlm/models/qwen2_5_vl/load.hpp"

namespace {

namespace q = vlm::qwen2_5_vl;
using vlm::bench::json_line;
using vlm::bench::measure;
using vlm::bench::measure_options;
using vlm::bench::timing;

// Qwen2.5-VL-3B-Instruct config.json (spec 1.1).
nlohmann::json config_3b() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
    "hidden_size": 2048, "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
    "intermediate_size": 11008, "hidden_act": "silu", "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "max_position_embeddings": 128000,
    "vocab_size": 151936, "tie_word_embeddings": true, "attention_dropout": 0.0,
    "use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 70,
    "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "vision_token_id": 151654, "image_token_id": 151655,
    "video_token_id": 151656, "torch_dtype": "bfloat16", "initializer_range": 0.02, "use_cache": true,
    "vision_config": {"depth": 32, "hidden_size": 1280, "num_heads": 16, "intermediate_size": 3420,
      "hidden_act": "silu", "patch_size": 14, "temporal_patch_size": 2, "spatial_merge_size": 2,
      "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "out_hidden_size": 2048,
      "in_chans": 3, "tokens_per_second": 2}
  })");
}

// Small random weights (uniform +-0.02; norm weights around 1) without a checkpoint.
template <class Model>
void fill_random(Model& m, std::uint64_t seed) {
  std::uint64_t s = seed;
  auto next = [&s] {  // splitmix64: fast enough for 3.75e9 values
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  m.visit_params([&](const std::string& name, auto& p) {
    using T = typename std::decay_t<decltype(p.value)>::value_type;
    const bool norm = name.find("norm") != std::string::npos || name.find("ln_q") != std::string::npos;
    T* d = p.value.data();
    const std::int64_t n = p.value.numel();
    for (std::int64_t i = 0; i < n; ++i) {
      float u = static_cast<float>(next() >> 40) * (1.f / 16777216.f) * 2.f - 1.f;  // [-1, 1)
      d[i] = vlm::convert<T>(norm ? 1.f + 0.1f * u : 0.02f * u);
    }
  });
}

template <class Model>
std::int64_t total_params(Model& m) {
  std::int64_t n = 0;
  m.visit_params([&](const std::string&, auto& p) { n += p.numel(); });
  return n;
}

// FLOPs of the vision tower on the given grids.
double vision_flops(const q::vision_config& c, const std::vector<q::grid_thw>& grids) {
  double P = 0;
  for (const auto& g : grids) P += static_cast<double>(g.patches());
  const double C = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size);
  const double K = static_cast<double>(c.in_channels * c.temporal_patch_size * c.patch_size * c.patch_size);
  const double u = static_cast<double>(c.spatial_merge_size * c.spatial_merge_size);
  double f = 2 * P * K * C;                                   // patch embed
  f += static_cast<double>(c.depth) * 2 * P * (4 * C * C + 3 * C * F);  // qkv, proj, SwiGLU
  // attention per block: 4 * (sum over segments of len^2) * C
  const auto w = q::window_partition(grids, c.spatial_merge_size, c.window_units());
  double win_sq = 0, full_sq = 0;
  for (std::size_t i = 1; i < w.cu_window_seqlens.size(); ++i) {
    double l = w.cu_window_seqlens[i] - w.cu_window_seqlens[i - 1];
    win_sq += l * l;
  }
  const auto fr = q::frame_segments(grids);
  for (std::size_t i = 1; i < fr.size(); ++i) {
    double l = fr[i] - fr[i - 1];
    full_sq += l * l;
  }
  const double n_full = static_cast<double>(c.fullatt_block_indexes.size());
  f += 4 * C * (n_full * full_sq + (static_cast<double>(c.depth) - n_full) * win_sq);
  f += 2 * (P / u) * (u * C * u * C + u * C * static_cast<double>(c.out_hidden_size));  // merger MLP
  return f;
}

// FLOPs of a text prefill of S tokens (decoder + lm_head on the last position).
double prefill_flops(const q::text_config& c, double S) {
  const double C = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size);
  const double D = static_cast<double>(c.head_dim()), H = static_cast<double>(c.num_attention_heads);
  const double KV = static_cast<double>(c.num_key_value_heads) * D;
  double per_layer = 2 * S * (2 * C * C + 2 * C * KV + 3 * C * F) + 4 * S * S * D * H;
  return static_cast<double>(c.num_hidden_layers) * per_layer + 2 * C * static_cast<double>(c.vocab_size);
}

double process_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// measure() plus the process CPU time per call (warm-up calls included in the average).
template <class F>
std::pair<timing, double> measure_cpu(F&& fn, measure_options mo) {
  int calls = 0;
  const double c0 = process_cpu_s();
  timing t = measure([&] { fn(); ++calls; }, mo);
  return {t, (process_cpu_s() - c0) / std::max(calls, 1)};
}

void report(const char* what, const char* dtype, const timing& t, double cpu_s, double flop,
            const vlm::bench::machine_info& mi, json_line j) {
  const double share = cpu_s / (t.median_s * std::max(mi.pool_threads, 1));
  std::fprintf(stderr, "%-26s %-5s %10.1f ms wall (min %10.1f, %3d reps) %10.1f ms cpu (share %3.0f%%)  %8.1f GFLOP  "
               "%6.1f GFLOP/s wall  %6.1f GFLOP/cpu-s\n",
               what, dtype, t.median_s * 1e3, t.min_s * 1e3, t.reps, cpu_s * 1e3, 100 * share, flop * 1e-9,
               flop / t.median_s * 1e-9, flop / cpu_s * 1e-9);
  j.set("dtype", dtype).set_time(t).set("cpu_ms", cpu_s * 1e3).set("cpu_share", share).set("gflop", flop * 1e-9);
  j.set("gflops", flop / t.median_s * 1e-9).set("gflop_per_cpu_s", flop / cpu_s * 1e-9).print();
}

struct options {
  std::string only;
  double min_time = 1.0;
};

template <class Model>
void run(const std::string& label, const Model& m, const vlm::bench::machine_info& mi, measure_options mo,
         const char* dtype, std::int64_t n_params) {
  using T = typename Model::value_type;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);

  // ---- vision tower: one image, grid (1, 32, 32) ----
  const std::vector<q::grid_thw> grids{{1, 32, 32}};
  const auto& vc = m.cfg.vision;
  const std::int64_t P = grids[0].patches(), K = vc.in_channels * vc.temporal_patch_size * vc.patch_size * vc.patch_size;
  std::vector<T> px(static_cast<std::size_t>(P * K));
  for (auto& v : px) v = vlm::convert<T>(uni(rng));
  auto pixels = vlm::tensor<T, vlm::cpu>::from_host({P, K}, px);
  const double vf = vision_flops(vc, grids);
  auto [tv, cv] = measure_cpu([&] {
    vlm::no_grad ctx;
    auto y = m.visual.forward(ctx, pixels, grids);
    vlm::bench::do_not_optimize(y.data()[0]);
  }, mo);
  const std::string vname = "qwen2_5_vl_" + label + "_vision";
  report((label + " vision P=" + std::to_string(P)).c_str(), dtype, tv, cv, vf, mi,
         json_line(vname, mi).set("params", n_params).set("patches", P));

  // ---- text prefill: S random text tokens ----
  const std::int64_t S = 256;
  q::model_inputs<T, vlm::cpu> in;
  in.input_ids = vlm::tensor<std::int64_t, vlm::cpu>::empty({1, S});
  std::uniform_int_distribution<std::int64_t> tok(0, 999);  // ordinary text ids in both vocabularies
  for (std::int64_t i = 0; i < S; ++i) in.input_ids.data()[i] = tok(rng);
  const double tf = prefill_flops(m.cfg.text, static_cast<double>(S));
  auto [tp, cp] = measure_cpu([&] {
    vlm::no_grad ctx;
    auto embeds = m.embed(ctx, in);
    auto pos = q::get_rope_index(in.input_ids, in.image_grids, in.attention_mask, m.cfg);
    auto hidden = m.language.forward(ctx, embeds, m.text_rope(pos.position_ids), m.text_mask(in));
    auto last = hidden.view({S, -1}).narrow(0, S - 1, 1).contiguous();
    auto logits = m.logits(ctx, last);
    vlm::bench::do_not_optimize(logits.data()[0]);
  }, mo);
  const std::string pname = "qwen2_5_vl_" + label + "_prefill";
  report((label + " prefill S=" + std::to_string(S)).c_str(), dtype, tp, cp, tf, mi,
         json_line(pname, mi).set("params", n_params).set("tokens", S));
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) opt.only = argv[++i];
    else if (a == "--min-time" && i + 1 < argc) opt.min_time = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--only tiny|3b] [--min-time SECONDS]\n", argv[0]);
      return 2;
    }
  }
  const auto mi = vlm::bench::machine();
  std::fprintf(stderr, "cpu: %s (%s), %d hw threads, vlm pool %d threads; commit %s, %s\n", mi.cpu.c_str(),
               mi.isa.c_str(), mi.hw_threads, mi.pool_threads, mi.commit.c_str(), mi.compiler.c_str());
  if (opt.only.empty() || opt.only == "tiny") {
    using model_t = q::model<float, vlm::cpu>;
    auto m = q::from_pretrained<model_t>(VLM_SOURCE_DIR "/tests/data/qwen2_5_vl/tiny");
    run("tiny", m, mi, {opt.min_time, 5, 1000, 2}, "f32", total_params(m));
  }
  if (opt.only.empty() || opt.only == "3b") {
    using model_t = q::model<vlm::bf16, vlm::cpu>;
    auto cfg = q::config::from_json(config_3b(), "qwen2_5_vl_3b (built in bench_qwen2_5_vl.cpp)");
    model_t m(cfg);
    fill_random(m, 42);
    const auto n = total_params(m);
    std::fprintf(stderr, "3b: %.3f B parameters (bf16, %.1f GB)\n", n * 1e-9, n * 2e-9);
    // One timed run, no warm-up: a single 3B pass takes tens of seconds on a few cores.
    run("3b", m, mi, {0.0, 1, 1, 0}, "bf16", n);
  }
  return 0;
}
