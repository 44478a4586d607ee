// SFT end to end on a small random model with the real Qwen2 tokenizer: the loss falls, the
// log records carry ms-swift's fields, checkpoints rotate, and a run resumed from a checkpoint
// logs exactly the losses of the uninterrupted run (same data order, optimizer state and
// dropout draws).
#include <catch2/catch.hpp>

#include "../common/random_model.hpp"

#include <filesystem>
#include <fstream>
#include <random>

#include <vlm/train/sft.hpp>

namespace {
using namespace vlm;
namespace fs = std::filesystem;
using model_t = train::lora_model<float, cpu>;
using pipeline_t = generate::chat_pipeline<model_t>;
const std::string data = VLM_TEST_DATA_DIR;

// A Hugging Face folder with a small random Qwen2.5-VL and the real tokenizer.
fs::path make_model(const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json cfg = {
      {"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
      {"intermediate_size", 64}, {"vocab_size", 151680}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1e6},
      {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}}, {"image_token_id", 151655},
      {"video_token_id", 151656}, {"vision_start_token_id", 151652}, {"vision_end_token_id", 151653},
      {"eos_token_id", 151645}, {"tie_word_embeddings", true}, {"torch_dtype", "float32"}, {"max_position_embeddings", 4096},
      {"vision_config", {{"depth", 2}, {"hidden_size", 32}, {"num_heads", 4}, {"intermediate_size", 64},
                         {"out_hidden_size", 32}, {"fullatt_block_indexes", {1}}, {"window_size", 112}}}};
  std::ofstream(dir / "preprocessor_config.json") << R"({"min_pixels": 3136, "max_pixels": 12544})";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fs::path(data) / "tokenizer" / f, dir / f, fs::copy_options::overwrite_existing);
  vlm_test::write_random_model(dir, cfg);
  return dir;
}

std::vector<train::sft_row> rows(int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const char* answers[] = {"在2日内到有效", "等:¥476.0", "AB-1234", "2024-03-15"};
  const char* images[] = {"img_150x97.png", "img_40x30.png"};
  std::vector<train::sft_row> r;
  for (int i = 0; i < n; ++i) {
    nlohmann::json j{{"query", "识别文字"}, {"response", answers[rng() % 4]}, {"image_path", images[rng() % 2]}};
    r.push_back(train::parse_sft_row(j, "row " + std::to_string(i), ""));
  }
  return r;
}

train::sft_args args_for(const fs::path& out) {
  train::sft_args a;
  a.lora.dropout = 0.1f;  // exercises the per-step dropout seeding
  a.max_steps = 12;
  a.gradient_accumulation_steps = 2;
  a.learning_rate = 5e-3;
  a.logging_steps = 4;
  a.save_steps = 4;
  a.eval_steps = 4;
  a.save_total_limit = 2;
  a.output_dir = out.string();
  a.add_version = false;
  a.quiet = true;
  a.dataloader_num_workers = 2;
  return a;
}

pipeline_t make_pipeline(const fs::path& model_dir) {
  auto p = pipeline_t::from_pretrained(model_dir);
  p.image_base_dir() = fs::path(data) / "qwen2_5_vl" / "images";
  return p;
}
}  // namespace

TEST_CASE("sft: loss falls, ms-swift log fields, rotation, exact resume", "[train][sft][slow]") {
  const fs::path root = fs::temp_directory_path() / "vlm_test_sft";
  fs::remove_all(root);
  const auto model_dir = make_model(root / "model");
  auto train_rows = rows(24, 1), val_rows = rows(4, 2);

  auto pipe = make_pipeline(model_dir);
  train::sft_trainer<pipeline_t> trainer(pipe, pipe.model(), args_for(root / "a"), train_rows, val_rows);
  auto full = trainer.train();

  std::vector<double> losses;
  for (const auto& rec : full.log)
    if (rec.contains("loss")) losses.push_back(rec["loss"].get<double>());
  REQUIRE(losses.size() == 4);  // steps 1, 4, 8, 12
  CHECK(losses.back() < losses.front());
  for (const char* key : {"loss", "token_acc", "grad_norm", "learning_rate", "memory(GiB)", "train_speed(iter/s)", "epoch",
                          "global_step/max_steps", "percentage", "elapsed_time", "remaining_time"})
    CHECK(full.log.front().contains(key));
  CHECK(full.log.front().begin().key() == "loss");  // ms-swift's key order
  // logging.jsonl has the same records, one per line.
  std::ifstream log(root / "a" / "logging.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  CHECK(lines == static_cast<int>(full.log.size()));
  // save_total_limit 2: checkpoint-4 was deleted, the newest remain.
  CHECK_FALSE(fs::exists(root / "a" / "checkpoint-4"));
  CHECK(fs::exists(root / "a" / "checkpoint-12" / "adapter_model.safetensors"));
  CHECK(fs::exists(root / "a" / "checkpoint-12" / "optimizer.safetensors"));

  // Resume from checkpoint-8 in a copy: steps 9..12 must log the same loss as the full run.
  fs::create_directories(root / "b");
  fs::copy(root / "a" / "checkpoint-8", root / "b" / "checkpoint-8", fs::copy_options::recursive);
  auto pipe2 = make_pipeline(model_dir);
  auto args2 = args_for(root / "b");
  args2.resume_from_checkpoint = (root / "b" / "checkpoint-8").string();
  train::sft_trainer<pipeline_t> resumed(pipe2, pipe2.model(), args2, train_rows, val_rows);
  auto second = resumed.train();
  REQUIRE(!second.log.empty());
  CHECK(second.log.front()["global_step/max_steps"] == "12/12");
  CHECK(second.log.front()["loss"].get<double>() == losses.back());
  fs::remove_all(root);
}
