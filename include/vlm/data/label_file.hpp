// The seed tutorial's OCR label file and its conversion to training rows (seed section 3.2):
// LabelTrain.txt holds one "image_name<TAB>text" line per image; the first n_train lines become
// train.jsonl and the rest val.jsonl, each row
//   {"query": "请识别图片中的文字", "response": text, "image_path": img_dir/image_name}
// (key order and ensure_ascii=False as the seed's json.dumps writes them).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"
#include "vlm/data/ocr_text.hpp"      // defines: ocr_query
#include "vlm/io/atomic_file.hpp"     // defines: atomic_write

namespace vlm::data {

struct label_line {
  std::string image_name;
  std::string text;
};

// throws: io_error when the file cannot be written.
inline void write_label_file(const std::filesystem::path& path, const std::vector<label_line>& lines) {
  io::atomic_write(path, [&](std::ostream& os) {
    for (const auto& l : lines) os << l.image_name << '\t' << l.text << '\n';
  });
}

// Lines as the seed reads them: line.rstrip().split("\t") must give exactly two fields.
//   throws: io_error when unreadable; format_error naming file:line for a line that is not
//           "name<TAB>text" (blank lines included, as the seed would fail on them too).
inline std::vector<label_line> read_label_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<io_error>("[label_file] cannot open '", path.string(), "'");
  std::vector<label_line> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const auto tab = line.find('\t');
    if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos || tab == 0)
      fail<format_error>("[label_file] ", path.string(), ":", n, ": expected 'image_name<TAB>text', got '", line, "'");
    out.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return out;
}

struct jsonl_split {
  std::filesystem::path train_jsonl, val_jsonl;
  std::size_t n_train = 0, n_val = 0;
};

// Writes out_dir/train.jsonl (lines [0, n_train)) and out_dir/val.jsonl (the rest) with
// image_path = (img_dir / image_name) in generic form. n_train larger than the file: all train.
inline jsonl_split label_lines_to_jsonl(const std::vector<label_line>& lines, const std::filesystem::path& img_dir,
                                        std::size_t n_train, const std::filesystem::path& out_dir,
                                        const std::string& query = std::string(ocr_query)) {
  auto write = [&](const std::filesystem::path& path, std::size_t begin, std::size_t end) {
    io::atomic_write(path, [&](std::ostream& os) {
      for (std::size_t i = begin; i < end; ++i) {
        // json.dumps(row, ensure_ascii=False): ", " and ": " separators, UTF-8 kept.
        os << "{\"query\": " << nlohmann::json(query).dump() << ", \"response\": " << nlohmann::json(lines[i].text).dump()
           << ", \"image_path\": " << nlohmann::json((img_dir / lines[i].image_name).generic_string()).dump() << "}\n";
      }
    });
  };
  jsonl_split s{out_dir / "train.jsonl", out_dir / "val.jsonl", std::min(n_train, lines.size()), 0};
  s.n_val = lines.size() - s.n_train;
  write(s.train_jsonl, 0, s.n_train);
  write(s.val_jsonl, s.n_train, lines.size());
  return s;
}

}  // namespace vlm::data
