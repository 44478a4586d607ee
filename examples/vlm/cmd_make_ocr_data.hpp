// vlm make-ocr-data --out DIR [--n_train 2000 --n_val 500 --seed 0 --layout fixed|proportional
//                   --font FILE --noise 12 --blur 0.3 --query TEXT]
// Renders a synthetic OCR set in the seed tutorial's shape (vlm/data/synthetic_ocr.hpp):
// DIR/images/Train_000001.png ..., DIR/LabelTrain.txt ("name<TAB>text"), and the seed's split of
// it, DIR/train.jsonl (first n_train) and DIR/val.jsonl, rows {"query": "请识别图片中的文字",
// "response": "等:¥476.0", "image_path": "images/Train_000001.png"}. Deterministic for a seed
// and font. Pair it with `vlm init-model --char_vocab true` for a model that trains in minutes.
//
// vlm prepare-ocr-data --label_file LabelTrain.txt --img_dir DIR [--n_train N] [--out_dir .]
// The seed's section 3.2 script: LabelTrain.txt -> train.jsonl (first N lines; default 90% of
// them) and val.jsonl (the rest), image_path = img_dir/name.
#pragma once
#include <chrono>
#include <filesystem>
#include <iostream>

#include <vlm/data/label_file.hpp>
#include <vlm/data/synthetic_ocr.hpp>
#include <vlm/train/train_log.hpp>  // defines: progress_bar

#include "args.hpp"

namespace vlm::cli {

inline int cmd_make_ocr_data(int argc, char** argv) {
  args a(argc, argv, 2, {"out", "n_train", "n_val", "seed", "layout", "font", "noise", "blur", "query"});
  const std::filesystem::path out = a.required("out");
  const long long n_train = a.get_int("n_train", 2000), n_val = a.get_int("n_val", 500);
  if (n_train < 0 || n_val < 0 || n_train + n_val > 999999)
    throw usage_error("--n_train and --n_val must be >= 0 and sum to at most 999999");
  data::dataset_options opt;
  opt.render.layout = data::parse_ocr_layout(a.get("layout", "fixed"));
  opt.render.noise_sigma = static_cast<float>(a.get_double("noise", opt.render.noise_sigma));
  opt.render.blur_probability = static_cast<float>(a.get_double("blur", opt.render.blur_probability));
  if (a.has("font")) opt.font = a.get("font");
  if (a.has("query")) opt.query = a.get("query");
  const auto t0 = std::chrono::steady_clock::now();
  opt.progress = [&](int done, int total) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << "\r" << train::progress_bar("Render", done, total, secs) << (done == total ? "\n" : "") << std::flush;
  };
  const auto s = data::make_ocr_dataset(out, static_cast<int>(n_train), static_cast<int>(n_val),
                                        static_cast<std::uint64_t>(a.get_int("seed", 0)), opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "wrote " << s.n_train + s.n_val << " images and " << s.label_file.string() << ", " << s.n_train
            << " train rows to " << s.train_jsonl.string() << " and " << s.n_val << " val rows to "
            << s.val_jsonl.string() << " in " << secs << " s\n";
  return 0;
}

inline int cmd_prepare_ocr_data(int argc, char** argv) {
  args a(argc, argv, 2, {"label_file", "img_dir", "n_train", "out_dir", "query"});
  const auto lines = data::read_label_file(a.required("label_file"));
  const long long n_train = a.get_int("n_train", static_cast<long long>(lines.size() * 9 / 10));
  if (n_train < 0) throw usage_error("--n_train must be >= 0");
  const std::filesystem::path out_dir = a.get("out_dir", ".");
  std::filesystem::create_directories(out_dir);
  const auto s = data::label_lines_to_jsonl(lines, a.required("img_dir"), static_cast<std::size_t>(n_train), out_dir,
                                            a.get("query", std::string(data::ocr_query)));
  std::cout << "wrote " << s.n_train << " rows to " << s.train_jsonl.string() << " and " << s.n_val << " rows to "
            << s.val_jsonl.string() << "\n";
  return 0;
}

}  // namespace vlm::cli
