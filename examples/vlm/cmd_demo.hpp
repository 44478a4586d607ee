// vlm demo [--out DIR] [--minutes N] [--seed S] [--n_train 20000 --n_val 500]
//          [--sft_steps K --grpo_steps G (override what --minutes picks)]: the seed tutorial's whole story on a laptop,
// nothing downloaded. Each stage is one of vlm's own subcommands, run in-process with the
// flags a user would type (printed before each stage):
//   1. make-ocr-data   render a synthetic OCR set (fixed pitch, the seed's text shapes)
//   2. init-model      a small Qwen2.5-VL from scratch with a character vocabulary
//   3. infer + eval    the untrained model's score on the validation set
//   4. sft             full fine-tuning (a from-scratch model has nothing for LoRA to adapt);
//                      an early checkpoint is kept for stage 6
//   5. infer + eval    after SFT (final and early checkpoints)
//   6. rlhf (GRPO)     LoRA GRPO with the seed's weighted-CER OCR reward (intended mode) and
//                      the format reward, from the final and from the early SFT checkpoint
//   7. export          merge each GRPO adapter (swift export --merge_lora true)
//   8. infer + eval    the merged models; a few validation images with every stage's answer
// Then DIR/report/: summary.json (every number of the closing table), report.md, SVG curves
// and the sample images. Step counts scale with --minutes, never with measured speed, so
// the same flags and seed give the same numbers on any machine.
#pragma once
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <vlm/io/atomic_file.hpp>
#include <vlm/metrics/ocr_eval.hpp>

#include "args.hpp"
#include "cmd_eval.hpp"
#include "cmd_export.hpp"
#include "cmd_infer.hpp"
#include "cmd_init_model.hpp"
#include "cmd_make_ocr_data.hpp"
#include "cmd_rlhf.hpp"
#include "cmd_sft.hpp"
#include "svg_plot.hpp"

namespace vlm::cli {

namespace demo {

namespace fs = std::filesystem;

// Runs `vlm <argv...>` in-process, echoing the command line. throws what the subcommand throws.
inline void run(const std::string& label, std::vector<std::string> argv) {
  argv.insert(argv.begin(), "vlm");
  std::cerr << "\n[vlm demo] " << label << ":";
  for (std::size_t i = 1; i < argv.size(); ++i) std::cerr << " " << argv[i];
  std::cerr << "\n";
  std::vector<char*> ptrs;
  for (auto& s : argv) ptrs.push_back(s.data());
  ptrs.push_back(nullptr);
  const int argc = static_cast<int>(argv.size());
  const std::string& cmd = argv[1];
  int rc = 0;
  if (cmd == "make-ocr-data") rc = cmd_make_ocr_data(argc, ptrs.data());
  else if (cmd == "init-model") rc = cmd_init_model(argc, ptrs.data());
  else if (cmd == "sft") rc = cmd_sft(argc, ptrs.data());
  else if (cmd == "rlhf") rc = cmd_rlhf(argc, ptrs.data());
  else if (cmd == "export") rc = cmd_export(argc, ptrs.data());
  else if (cmd == "infer") rc = cmd_infer(argc, ptrs.data());
  else throw usage_error("demo: no stage runs '" + cmd + "'");
  if (rc != 0) throw vlm::error("[demo] stage '" + label + "' exited with " + std::to_string(rc));
}

struct stage_score {
  std::string stage, model;
  metrics::ocr_scores scores;   // greedy decoding
  metrics::ocr_scores sampled;  // temperature 1 sampling, one answer per image
  double seconds = 0;  // the stage that produced the model (training), 0 for evaluation-only rows
  double eval_seconds = 0;
  double gen_tokens_per_s = 0;
  std::vector<std::string> samples;  // answers to the first sample images
};

struct timer {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

// infer over the validation set (greedy, batched) and the seed's OCR metrics.
inline stage_score evaluate(const std::string& stage, const fs::path& model, const fs::path& val, const fs::path& out_jsonl,
                            int n_samples) {
  timer t;
  run("infer (" + stage + ")", {"infer", "--model", model.string(), "--val_dataset", val.string(), "--result_path", out_jsonl.string(),
                                 "--max_new_tokens", "16", "--max_batch_size", "64"});
  stage_score s;
  s.stage = stage;
  s.model = model.string();
  s.eval_seconds = t.seconds();
  // The same prompts sampled at the rollouts' temperature: what GRPO's reward sees, so a
  // policy that GRPO sharpened shows here first.
  fs::path sampled = out_jsonl;
  sampled.replace_extension(".sampled.jsonl");
  run("infer, sampled (" + stage + ")", {"infer", "--model", model.string(), "--val_dataset", val.string(), "--result_path",
                                          sampled.string(), "--max_new_tokens", "16", "--max_batch_size", "64", "--temperature", "1.0",
                                          "--top_k", "50", "--top_p", "0.9", "--seed", "1"});
  s.sampled = metrics::score_jsonl(sampled.string()).summary;
  const auto r = metrics::score_jsonl(out_jsonl.string());
  s.scores = r.summary;
  std::size_t tokens = 0;
  for (const auto& row : r.rows) tokens += metrics::utf8_to_code_points(row.response).size() + 1;  // + the stop token
  s.gen_tokens_per_s = static_cast<double>(tokens) / std::max(1e-9, s.eval_seconds);
  for (int i = 0; i < n_samples && i < static_cast<int>(r.rows.size()); ++i) s.samples.push_back(r.rows[static_cast<std::size_t>(i)].response);
  std::cerr << "[vlm demo] " << stage << ": text_acc " << s.scores.text_acc << ", CER " << s.scores.cer << ", exact match "
            << s.scores.exact_match << " ± " << s.scores.exact_match_se << "\n";
  return s;
}

inline std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// (step, key) points of a logging.jsonl, from records that have `key`.
inline std::vector<std::pair<double, double>> curve(const std::vector<nlohmann::json>& log, const std::string& key) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : log) {
    if (!r.contains(key) || !r[key].is_number() || !r.contains("global_step/max_steps")) continue;
    const std::string gs = r["global_step/max_steps"];
    pts.emplace_back(std::stod(gs.substr(0, gs.find('/'))), r[key].get<double>());
  }
  return pts;
}

inline void write_text(const fs::path& p, const std::string& text) {
  io::atomic_write(p, [&](std::ostream& os) { os << text; });
}

// A prediction as one Markdown table cell: newlines shown as ⏎, pipes escaped, long answers cut.
inline std::string md_cell(const std::string& text) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts_char && chars++ == 24) break;
    if (c == '\n') out += "⏎";
    else if (c == '|') out += "\\|";
    else if (c == '\r' || c == '\t') out += ' ';
    else out += c;
  }
  return out.empty() ? "(empty)" : out;
}

inline std::string pct(double v) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << 100 * v;
  return o.str();
}

}  // namespace demo

inline int cmd_demo(int argc, char** argv) {
  namespace fs = std::filesystem;
  using namespace demo;
  args a(argc, argv, 2, {"out", "minutes", "seed", "n_train", "n_val", "sft_steps", "grpo_steps"});
  const fs::path out = a.get("out", "vlm-demo");
  const double minutes = a.get_double("minutes", 10);
  if (!(minutes >= 1 && minutes <= 600)) throw usage_error("--minutes must be in [1, 600]");
  const std::string seed = std::to_string(a.get_int("seed", 0));
  // The step counts: 10 minutes on a 2-core machine fit the recipe below (docs/tutorial.md).
  const double scale = minutes / 10.0;
  // SFT needs the learning rate high for ~1000 steps: the model learns which image token to
  // read and the Chinese glyphs in a sudden transition (eval token_acc 0.72 -> 0.99 between
  // steps 800 and 1200 of a 2400-step run; a 1500-step cosine decays too early and ends at
  // 0.87 with this seed).
  const long long sft_steps = a.get_int("sft_steps", std::max(50LL, std::llround(2000 * scale)));
  const long long early_step = std::max(1LL, sft_steps >= 100 ? sft_steps / 2 / 50 * 50 : sft_steps / 2);
  const long long grpo_steps = a.get_int("grpo_steps", std::max(4LL, std::llround(40 * scale)));
  if (sft_steps < 2 || grpo_steps < 1) throw usage_error("--sft_steps must be >= 2 and --grpo_steps >= 1");
  const std::string n_train = std::to_string(a.get_int("n_train", 20000)), n_val = std::to_string(a.get_int("n_val", 500));
  const int n_samples = 6;
  if (fs::exists(out / "report" / "summary.json"))
    std::cerr << "[vlm demo] warning: '" << out.string() << "' holds an earlier demo; its stages are rerun and replaced\n";
  for (const char* sub : {"sft", "grpo-final", "grpo-early", "grpo-final-merged", "grpo-early-merged"}) fs::remove_all(out / sub);
  fs::create_directories(out / "report" / "images");
  const fs::path data = out / "data", model0 = out / "model-init", val = data / "val.jsonl";
  std::vector<stage_score> table;
  nlohmann::ordered_json timing;
  timer total;

  {  // 1-2: data and model
    timer t;
    run("make-ocr-data", {"make-ocr-data", "--out", data.string(), "--n_train", n_train, "--n_val", n_val, "--seed", seed});
    timing["data_seconds"] = t.seconds();
    fs::remove_all(model0);
    run("init-model", {"init-model", "--out", model0.string(), "--char_vocab", "true", "--hidden_size", "96", "--num_hidden_layers", "2",
                       "--num_attention_heads", "4", "--num_key_value_heads", "2", "--vision_hidden_size", "64", "--vision_depth", "2",
                       "--rope_theta", "10000", "--mrope_section", "0", "0", "12", "--seed", seed});
  }
  table.push_back(evaluate("init", model0, val, out / "report" / "infer_init.jsonl", n_samples));

  // 4: SFT
  const fs::path sft_dir = out / "sft";
  timer sft_t;
  run("sft", {"sft", "--model", model0.string(), "--dataset", (data / "train.jsonl").string(), "--val_dataset", val.string(),
              "--train_type", "full", "--freeze_vit", "false", "--freeze_aligner", "false", "--per_device_train_batch_size", "32",
              "--gradient_accumulation_steps", "1", "--learning_rate", "2e-3", "--lr_scheduler_type", "cosine_with_min_lr",
              "--lr_scheduler_kwargs", "{\"min_lr_rate\": 0.1}", "--warmup_ratio", "0.03", "--max_steps", std::to_string(sft_steps),
              "--logging_steps", "25", "--eval_steps", std::to_string(std::max(1LL, sft_steps / 8)), "--save_steps", std::to_string(early_step),
              "--output_dir", sft_dir.string(), "--add_version", "false", "--seed", seed, "--dataloader_num_workers", "2"});
  const double sft_seconds = sft_t.seconds();
  const fs::path sft_final = sft_dir / ("checkpoint-" + std::to_string(sft_steps));
  const fs::path sft_early = sft_dir / ("checkpoint-" + std::to_string(early_step));
  table.push_back(evaluate("sft-early", sft_early, val, out / "report" / "infer_sft_early.jsonl", n_samples));
  table.push_back(evaluate("sft", sft_final, val, out / "report" / "infer_sft.jsonl", n_samples));
  table.back().seconds = sft_seconds;

  // 6-8: GRPO (LoRA) from both SFT checkpoints, merged and scored.
  for (const auto& [name, from] : {std::pair{std::string("grpo-early"), sft_early}, std::pair{std::string("grpo-final"), sft_final}}) {
    timer t;
    run("rlhf " + name, {"rlhf", "--rlhf_type", "grpo", "--model", from.string(), "--dataset", (data / "train.jsonl").string(),
                         "--reward_funcs", "external_ocr_format", "format", "--ocr_mode", "true", "--train_type", "lora",
                         "--lora_rank", "8", "--lora_alpha", "32", "--target_modules", "all-linear", "--num_generations", "8",
                         "--per_device_train_batch_size", "128", "--learning_rate", "1e-3", "--max_steps", std::to_string(grpo_steps),
                         "--max_completion_length", "16", "--temperature", "1.0", "--beta", "0.04", "--logging_steps", "1",
                         "--save_steps", std::to_string(grpo_steps), "--output_dir", (out / name).string(), "--add_version", "false",
                         "--seed", seed, "--log_completions", "true"});
    const double secs = t.seconds();
    const fs::path adapter = out / name / ("checkpoint-" + std::to_string(grpo_steps));
    const fs::path merged = out / (name + "-merged");
    run("export " + name, {"export", "--adapters", adapter.string(), "--merge_lora", "true", "--output_dir", merged.string()});
    table.push_back(evaluate(name, merged, val, out / "report" / ("infer_" + name + ".jsonl"), n_samples));
    table.back().seconds = secs;
  }
  timing["total_seconds"] = total.seconds();

  // Report: summary.json, curves, sample images, report.md.
  const fs::path rep = out / "report";
  nlohmann::ordered_json summary;
  summary["seed"] = std::stoll(seed);
  summary["minutes"] = minutes;
  summary["sft_steps"] = sft_steps;
  summary["grpo_steps"] = grpo_steps;
  summary["n_train"] = std::stoll(n_train);
  summary["n_val"] = std::stoll(n_val);
  for (const auto& s : table)
    summary["stages"][s.stage] = {{"model", s.model},
                                  {"text_acc", s.scores.text_acc},
                                  {"cer", s.scores.cer},
                                  {"exact_match", s.scores.exact_match},
                                  {"exact_match_se", s.scores.exact_match_se},
                                  {"sampled_text_acc", s.sampled.text_acc},
                                  {"sampled_exact_match", s.sampled.exact_match},
                                  {"train_seconds", s.seconds},
                                  {"eval_seconds", s.eval_seconds},
                                  {"generation_tokens_per_s", s.gen_tokens_per_s}};
  const auto sft_log = read_jsonl(sft_dir / "logging.jsonl");
  for (const auto& r : sft_log)
    if (r.contains("train_gflops")) summary["sft_throughput"] = r;
  summary["timing"] = timing;
  write_text(rep / "summary.json", summary.dump(2) + "\n");

  write_text(rep / "sft_loss.svg", line_chart({"SFT loss", "step", "loss"},
                                              {{"train", curve(sft_log, "loss"), "#1f77b4"}, {"eval", curve(sft_log, "eval_loss"), "#d62728"}}));
  write_text(rep / "sft_token_acc.svg",
             line_chart({"SFT token accuracy", "step", "token_acc"},
                        {{"train", curve(sft_log, "token_acc"), "#1f77b4"}, {"eval", curve(sft_log, "eval_token_acc"), "#d62728"}}));
  write_text(rep / "sft_learning_rate.svg", line_chart({"SFT learning rate", "step", "lr"}, {{"lr", curve(sft_log, "learning_rate"), "#2ca02c"}}));
  std::vector<plot_series> reward_series;
  const char* colours[] = {"#ff7f0e", "#9467bd"};
  int ci = 0;
  for (const char* name : {"grpo-early", "grpo-final"})
    reward_series.push_back({std::string(name), curve(read_jsonl(out / name / "logging.jsonl"), "reward"), colours[ci++]});
  write_text(rep / "grpo_reward.svg", line_chart({"GRPO mean reward", "step", "reward"}, reward_series));

  // Sample images and every stage's answer.
  const auto val_rows = read_jsonl(val);
  std::ostringstream md;
  md << "# vlm demo report\n\nSeed " << seed << ", " << minutes << " minute budget, " << n_train << " training and " << n_val
     << " validation images, " << sft_steps << " SFT steps, " << grpo_steps << " GRPO steps per run. Total "
     << std::llround(total.seconds()) << " s.\n\n";
  md << "Greedy decoding unless marked; *sampled* is one answer per image at temperature 1, top_p 0.9, top_k 50, as GRPO's rollouts draw them.\n\n";
  md << "| stage | text_acc | CER | exact match (± s.e.) | sampled text_acc | sampled exact | train s | eval s | gen tok/s |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : table)
    md << "| " << s.stage << " | " << pct(s.scores.text_acc) << "% | " << pct(s.scores.cer) << "% | " << pct(s.scores.exact_match)
       << "% ± " << pct(s.scores.exact_match_se) << " | " << pct(s.sampled.text_acc) << "% | " << pct(s.sampled.exact_match) << "% | "
       << std::llround(s.seconds) << " | " << std::llround(s.eval_seconds) << " | " << std::llround(s.gen_tokens_per_s) << " |\n";
  if (summary.contains("sft_throughput"))
    md << "\nSFT throughput: " << summary["sft_throughput"]["train_gflops"] << " GFLOP/s (" << summary["sft_throughput"]["train_gflop_per_step"]
       << " GFLOP per step, matrix products counted by vlm/models/qwen2_5_vl/flops.hpp), "
       << summary["sft_throughput"]["train_samples_per_second"] << " samples/s.\n";
  md << "\n![SFT loss](sft_loss.svg) ![SFT token accuracy](sft_token_acc.svg)\n![learning rate](sft_learning_rate.svg) "
        "![GRPO reward](grpo_reward.svg)\n\n## Validation samples\n\n| image | truth |";
  for (const auto& s : table) md << " " << s.stage << " |";
  md << "\n|---|---|";
  for (std::size_t i = 0; i < table.size(); ++i) md << "---|";
  md << "\n";
  for (int i = 0; i < n_samples && i < static_cast<int>(val_rows.size()); ++i) {
    const fs::path img = fs::path(val_rows[static_cast<std::size_t>(i)]["image_path"].get<std::string>());
    const fs::path dst = rep / "images" / img.filename();
    fs::copy_file(data / img, dst, fs::copy_options::overwrite_existing);
    md << "| ![](images/" << img.filename().string() << ") | " << md_cell(val_rows[static_cast<std::size_t>(i)]["response"].get<std::string>()) << " |";
    for (const auto& s : table) md << " " << (static_cast<std::size_t>(i) < s.samples.size() ? md_cell(s.samples[static_cast<std::size_t>(i)]) : "") << " |";
    md << "\n";
  }
  write_text(rep / "report.md", md.str());

  // The closing table.
  std::cout << "\n" << std::left << std::setw(12) << "stage" << std::right << std::setw(10) << "text_acc" << std::setw(9) << "CER"
            << std::setw(20) << "exact match" << std::setw(11) << "sampled" << std::setw(10) << "train s" << std::setw(12) << "gen tok/s"
            << "\n";
  for (const auto& s : table)
    std::cout << std::left << std::setw(12) << s.stage << std::right << std::setw(9) << pct(s.scores.text_acc) << "%" << std::setw(8)
              << pct(s.scores.cer) << "%" << std::setw(12) << pct(s.scores.exact_match) << "% ± " << std::setw(4)
              << pct(s.scores.exact_match_se) << std::setw(10) << pct(s.sampled.text_acc) << "%" << std::setw(10) << std::llround(s.seconds)
              << std::setw(12) << std::llround(s.gen_tokens_per_s) << "\n";
  if (summary.contains("sft_throughput"))
    std::cout << "SFT: " << summary["sft_throughput"]["train_gflops"] << " GFLOP/s, " << summary["sft_throughput"]["train_samples_per_second"]
              << " samples/s\n";
  std::cout << "total " << std::llround(total.seconds()) << " s; report: " << (rep / "report.md").string() << "\n";
  return 0;
}

}  // namespace vlm::cli
