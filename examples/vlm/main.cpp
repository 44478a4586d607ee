// vlm: the command-line front door. Subcommands are named like ms-swift's.
//   vlm infer / tokenize / forward / init-model (see usage())
// Bad input (flags, files, shapes) prints one line "vlm <cmd>: <reason>" and exits with 2.
#include <cstring>
#include <iostream>

#include "cmd_demo.hpp"
#include "cmd_eval.hpp"
#include "cmd_export.hpp"
#include "cmd_forward.hpp"
#include "cmd_infer.hpp"
#include "cmd_init_model.hpp"
#include "cmd_make_ocr_data.hpp"
#include "cmd_sft.hpp"
#include "cmd_reward.hpp"
#include "cmd_rlhf.hpp"
#include "cmd_tokenize.hpp"

namespace {
void usage() {
  std::cerr << "usage: vlm <command> [flags]\n"
               "commands:\n"
               "  demo        the whole seed story in ~10 min on a laptop: data, SFT, GRPO, merge, scores, report\n"
               "  infer       answer a prompt (+ images), a messages file or a jsonl set (like swift infer)\n"
               "  sft         LoRA / full fine-tuning on a jsonl set (like swift sft)\n"
               "  export      --adapters CKPT --merge_lora true: merge LoRA into a full model folder\n"
               "  rlhf        --rlhf_type grpo: GRPO with pluggable rewards (like swift rlhf)\n"
               "  tokenize    text -> ids, or --decode ids -> text\n"
               "  forward     run Qwen2.5-VL once on ids (+ images) and write tensors to a .safetensors file\n"
               "  init-model  write a small random Qwen2.5-VL folder (tests, demos)\n"
               "  make-ocr-data  render a synthetic OCR set: PNGs + LabelTrain.txt + train/val.jsonl (--out DIR)\n"
               "  prepare-ocr-data  the seed's LabelTrain.txt -> train.jsonl / val.jsonl split (--label_file, --img_dir)\n"
               "  eval        OCR metrics of a result jsonl: text_acc, CER, exact match (--result_path)\n"
               "  reward      run GRPO reward functions on a jsonl of completions (--reward_funcs, --input)\n"
               "flags use swift's spelling (--max_new_tokens); --max-new-tokens is accepted too.\n";
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "demo") return vlm::cli::cmd_demo(argc, argv);
    if (cmd == "forward") return vlm::cli::cmd_forward(argc, argv);
    if (cmd == "infer") return vlm::cli::cmd_infer(argc, argv);
    if (cmd == "sft") return vlm::cli::cmd_sft(argc, argv);
    if (cmd == "export") return vlm::cli::cmd_export(argc, argv);
    if (cmd == "rlhf") return vlm::cli::cmd_rlhf(argc, argv);
    if (cmd == "tokenize") return vlm::cli::cmd_tokenize(argc, argv);
    if (cmd == "eval") return vlm::cli::cmd_eval(argc, argv);
    if (cmd == "reward") return vlm::cli::cmd_reward(argc, argv);
    if (cmd == "init-model" || cmd == "init_model") return vlm::cli::cmd_init_model(argc, argv);
    if (cmd == "make-ocr-data" || cmd == "make_ocr_data") return vlm::cli::cmd_make_ocr_data(argc, argv);
    if (cmd == "prepare-ocr-data" || cmd == "prepare_ocr_data") return vlm::cli::cmd_prepare_ocr_data(argc, argv);
    std::cerr << "vlm: unknown command '" << cmd << "'\n";
    usage();
    return 2;
  } catch (const vlm::error& e) {
    std::string msg = e.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    std::cerr << "vlm " << cmd << ": " << msg << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "vlm " << cmd << ": internal error: " << e.what() << "\n";
    return 1;
  }
}
