// vlm make-ocr-data --out DIR [--n_train 2000 --n_val 500 --seed 0 --height 0 --noise 8 --blur 0.3]
// Writes a synthetic OCR set in the seed tutorial's shape: DIR/images/*.png plus
// DIR/train.jsonl and DIR/val.jsonl with rows {"query": "请识别图片中的文字", "response": "¥476.0",
// "image_path": "images/train_00001.png"}. Text lines of receipt-like strings drawn with the
// built-in 5x7 font (vlm/data/synthetic_ocr.hpp); deterministic for a seed. Pair it with
// `vlm init-model --char_vocab true` for a model that trains on a laptop in minutes.
#pragma once
#include <chrono>
#include <filesystem>
#include <iostream>

#include <vlm/data/synthetic_ocr.hpp>

#include "args.hpp"

namespace vlm::cli {

inline int cmd_make_ocr_data(int argc, char** argv) {
  args a(argc, argv, 2, {"out", "n_train", "n_val", "seed", "height", "noise", "blur", "query"});
  const std::filesystem::path out = a.required("out");
  const long long n_train = a.get_int("n_train", 2000), n_val = a.get_int("n_val", 500);
  if (n_train < 0 || n_val < 0 || n_train > 99999 || n_val > 99999)
    throw usage_error("--n_train and --n_val must be in [0, 99999]");
  const long long height = a.get_int("height", 0);
  if (height != 0 && height != 28 && height != 56) throw usage_error("--height must be 0 (random), 28 or 56");
  data::dataset_options opt;
  opt.render.height = static_cast<int>(height);
  opt.render.noise_sigma = static_cast<float>(a.get_double("noise", 8.0));
  opt.render.blur_probability = static_cast<float>(a.get_double("blur", 0.3));
  if (a.has("query")) opt.query = a.get("query");
  const auto t0 = std::chrono::steady_clock::now();
  const auto s = data::make_ocr_dataset(out, static_cast<int>(n_train), static_cast<int>(n_val),
                                        static_cast<std::uint64_t>(a.get_int("seed", 0)), opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "wrote " << s.n_train << " train rows to " << s.train_jsonl.string() << " and " << s.n_val
            << " val rows to " << s.val_jsonl.string() << " in " << secs << " s\n";
  return 0;
}

}  // namespace vlm::cli
