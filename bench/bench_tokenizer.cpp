// Encoding speed of vlm::tokenizer on ~4 MB of mixed text (English prose, code, Chinese,
// numbers, emoji, chat markup), against HF `tokenizers` on the same text in the same run
// (tools/bench_tokenizer_hf.py, if python3 can import tokenizers; else "n/a").
// Both single-threaded, in two modes: "docs" (the text cut after each blank line, ~1 KB
// documents, one encode() each; HF: encode_batch on one thread) and "whole" (one call on all
// of it). "cold" is the first pass after loading (empty word caches); median/best are over
// repeats with warm caches. The ids of both are compared (count + checksum) before a ratio
// is printed.
// The built-in text repeats its sentences, so word caches hit often; pass a real corpus as
// the third argument for a harder case.
// Usage: bench_tokenizer [tokenizer.json] [MB of text, default 4] [UTF-8 text file to use instead]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "vlm/tokenizer/tokenizer.hpp"

#ifndef VLM_SOURCE_DIR
#define VLM_SOURCE_DIR "."
#endif

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Deterministic mixed text: sentences drawn from a few pools, with fresh numbers and names so
// that not every word is a cache hit.
std::string make_text(size_t target_bytes) {
  const std::vector<std::string> english = {
      "The quick brown fox jumps over the lazy dog.",
      "Vision-language models read images and text together, one token at a time.",
      "We don't know whether they'll arrive before the meeting; it's hard to say.",
      "In 2023, the dataset contained 1,234,567 images and 89,012 hand-written captions.",
      "Tokenization splits text into pieces that the model has seen during pre-training.",
      "She said: \"Please send the report by Friday, 5 p.m. at the latest!\"",
      "Byte-level BPE never needs an unknown token: every byte is in the vocabulary.",
      "Results (mean ± std): accuracy 87.3% ± 0.4, F1 0.812, latency 23.5 ms/token."};
  const std::vector<std::string> chinese = {
      "视觉语言模型可以同时理解图像和文字。", "今天北京的天气很好，我们去公园散步吧。",
      "请把这份报告在星期五下午五点之前发给我。", "数据集中包含一百二十三万张图片和八万多条人工标注。",
      "分词器把文本切分成模型在预训练时见过的片段。"};
  const std::vector<std::string> code = {
      "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
      "def forward(self, x):\n    return self.proj(torch.relu(self.fc(x)))\n",
      "{\"id\": 42, \"name\": \"qwen2.5-vl\", \"tags\": [\"vision\", \"chat\"], \"score\": 0.93}\n",
      "    if err != nil {\n        return fmt.Errorf(\"open %s: %w\", path, err)\n    }\n"};
  const std::vector<std::string> other = {
      "Привет, как дела? Всё хорошо, спасибо.", "Café, naïve, façade — déjà vu.",
      "こんにちは、世界。今日はいい天気ですね。", "안녕하세요, 만나서 반갑습니다.",
      "👍 Great job! 🎉🎉 See you tomorrow 😀", "ⓐⓑⓒ ①②③ ½ ¾ x² ∑∫√∞"};
  std::mt19937 rng(1234);
  std::string text;
  text.reserve(target_bytes + 1024);
  while (text.size() < target_bytes) {
    const unsigned pick = rng() % 100;
    if (pick < 45) text += english[rng() % english.size()];
    else if (pick < 65) text += chinese[rng() % chinese.size()];
    else if (pick < 80) text += code[rng() % code.size()];
    else if (pick < 92) text += other[rng() % other.size()];
    else if (pick < 97) text += " user" + std::to_string(rng() % 100000) + " id=" + std::to_string(rng());
    else text += "<|im_start|>assistant\n";
    text += (rng() % 5 == 0) ? "\n\n" : " ";
  }
  return text;
}

uint64_t checksum(const std::vector<int32_t>& ids) {  // same as tools/bench_tokenizer_hf.py
  uint64_t h = 0;
  for (auto id : ids) h = h * 1000003u + static_cast<uint64_t>(id) + 1u;
  return h;
}

struct timing {
  double cold_s = 0, median_s = 0, best_s = 0, cpu_median_s = 0;
  size_t repeats = 0;
};

// Process CPU time: on a shared machine it counts only our own work, unlike wall time.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// First call (cold caches), then repeats until 3 s have passed (at least 3, at most 20).
template <class Run>
timing time_encode(Run&& run, const std::vector<int32_t>& expected) {
  timing t;
  auto t0 = clock_type::now();
  if (run() != expected) throw std::runtime_error("encode is not deterministic");
  t.cold_s = seconds_since(t0);
  std::vector<double> times, cpu_times;
  const auto start = clock_type::now();
  while (times.size() < 20 && (seconds_since(start) < 3.0 || times.size() < 3)) {
    t0 = clock_type::now();
    const double c0 = cpu_seconds();
    const auto ids = run();
    cpu_times.push_back(cpu_seconds() - c0);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  t.cpu_median_s = cpu_times[cpu_times.size() / 2];
  t.median_s = times[times.size() / 2];
  t.best_s = times.front();
  t.repeats = times.size();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string json_path =
      argc > 1 && *argv[1] ? argv[1] : std::string(VLM_SOURCE_DIR) + "/tests/data/tokenizer/tokenizer.json";
  const double mb_target = argc > 2 ? std::atof(argv[2]) : 4.0;
  const std::string text = argc > 3 ? vlm::tokenizer::detail::read_file(argv[3])
                                    : make_text(static_cast<size_t>(mb_target * 1e6));
  const double mb = static_cast<double>(text.size()) / 1e6;
  // "docs": the text cut after every blank line, as tools/bench_tokenizer_hf.py does.
  std::vector<std::string_view> docs;
  for (size_t pos = 0; pos < text.size();) {
    const size_t cut = text.find("\n\n", pos);
    const size_t end = cut == std::string::npos ? text.size() : cut + 2;
    docs.push_back(std::string_view(text).substr(pos, end - pos));
    pos = end;
  }

  auto t0 = clock_type::now();
  const auto tok = vlm::tokenizer::tokenizer::from_file(json_path);
  const double load_s = seconds_since(t0);

  auto run_docs = [&] {
    std::vector<int32_t> all;
    for (const auto d : docs) {
      const auto ids = tok.encode(d);
      all.insert(all.end(), ids.begin(), ids.end());
    }
    return all;
  };
  auto run_whole = [&] { return tok.encode(text); };
  // Reference ids from a separate tokenizer, so both timed runs start with a cold cache.
  const auto reference = vlm::tokenizer::tokenizer::from_file(json_path);
  const std::vector<int32_t> ids_docs = [&] {
    std::vector<int32_t> all;
    for (const auto d : docs) {
      const auto ids = reference.encode(d);
      all.insert(all.end(), ids.begin(), ids.end());
    }
    return all;
  }();
  const std::vector<int32_t> ids_whole = reference.encode(text);
  if (reference.decode(ids_whole) != text) { std::cerr << "decode(encode(text)) != text\n"; return 1; }

  std::map<std::string, timing> ours;
  ours["docs"] = time_encode(run_docs, ids_docs);
  ours["whole"] = time_encode(run_whole, ids_whole);
  std::map<std::string, const std::vector<int32_t>*> ids_of = {{"docs", &ids_docs}, {"whole", &ids_whole}};
  for (const auto& [mode, t] : ours) {
    const auto& ids = *ids_of[mode];
    nlohmann::json line = {{"bench", "tokenizer_encode"}, {"impl", "vlm"}, {"mode", mode},
                           {"bytes", text.size()}, {"docs", docs.size()}, {"load_s", load_s},
                           {"cold_mb_per_s", mb / t.cold_s}, {"median_mb_per_s", mb / t.median_s},
                           {"best_mb_per_s", mb / t.best_s}, {"cpu_median_mb_per_s", mb / t.cpu_median_s},
                           {"repeats", t.repeats},
                           {"ids", ids.size()}, {"checksum", std::to_string(checksum(ids))},
                           {"hardware_threads", std::thread::hardware_concurrency()}};
    std::cout << line.dump() << std::endl;
  }

  // The same text through HF tokenizers, via a temporary file.
  const auto text_path = std::filesystem::temp_directory_path() /
                         ("vlm_bench_tokenizer_" + std::to_string(std::random_device{}()) + ".txt");
  const auto out_path = text_path.string() + ".json";
  std::ofstream(text_path, std::ios::binary) << text;
  const std::string script = std::string(VLM_SOURCE_DIR) + "/tools/bench_tokenizer_hf.py";
  const std::string cmd = "python3 -c 'import tokenizers' >/dev/null 2>&1 && python3 '" + script +
                          "' --tokenizer '" + json_path + "' --text '" + text_path.string() + "' > '" +
                          out_path + "'";
  const int rc = std::system(cmd.c_str());
  std::vector<nlohmann::json> hf;
  if (rc == 0) {
    std::ifstream in(out_path);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) hf.push_back(nlohmann::json::parse(line));
  }
  std::filesystem::remove(text_path);
  std::filesystem::remove(out_path);
  if (hf.empty()) {
    std::cout << "hf_tokenizers: n/a (python3 with the tokenizers package not found)\n";
    return 0;
  }
  bool all_same = true;
  for (const auto& h : hf) {
    std::cout << h.dump() << std::endl;
    const std::string mode = h.at("mode");
    const auto& ids = *ids_of.at(mode);
    const timing& t = ours.at(mode);
    const bool same = h.at("ids").get<size_t>() == ids.size() &&
                      h.at("checksum").get<std::string>() == std::to_string(checksum(ids));
    all_same = all_same && same;
    auto ratio = [](double a, double b) { return a / b; };
    std::printf("%-5s ids identical: %s | MB/s wall median: vlm %.2f, hf %.2f (%.1fx) | cpu median: vlm %.2f, "
                "hf %.2f (%.1fx) | cold wall: vlm %.2f, hf %.2f (%.1fx)\n",
                mode.c_str(), same ? "yes" : "NO", mb / t.median_s, h.at("median_mb_per_s").get<double>(),
                ratio(mb / t.median_s, h.at("median_mb_per_s").get<double>()), mb / t.cpu_median_s,
                h.at("cpu_median_mb_per_s").get<double>(),
                ratio(mb / t.cpu_median_s, h.at("cpu_median_mb_per_s").get<double>()), mb / t.cold_s,
                h.at("cold_mb_per_s").get<double>(), ratio(mb / t.cold_s, h.at("cold_mb_per_s").get<double>()));
  }
  return all_same ? 0 : 1;
}
