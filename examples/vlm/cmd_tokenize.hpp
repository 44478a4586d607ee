// vlm tokenize --model DIR (--text TEXT | --file F)   prints the ids, comma-separated
// vlm tokenize --model DIR --decode 1,2,3             prints the text
#pragma once
#include <fstream>
#include <iostream>
#include <sstream>

#include <vlm/tokenizer/tokenizer.hpp>

#include "args.hpp"

namespace vlm::cli {

inline int cmd_tokenize(int argc, char** argv) {
  args a(argc, argv, 2, {"model", "text", "file", "decode", "skip_special_tokens"}, {"skip_special_tokens"});
  auto tok = tokenizer::tokenizer::from_dir(a.required("model"));
  if (a.has("decode")) {
    auto list = args::parse_int_list("decode", a.get("decode"));
    std::vector<std::int32_t> ids;
    for (auto v : list) {
      if (v < 0 || v >= static_cast<long long>(tok.vocab_size())) throw usage_error("--decode: id " + std::to_string(v) + " is outside the vocabulary");
      ids.push_back(static_cast<std::int32_t>(v));
    }
    std::cout << tok.decode(ids, a.get_bool("skip_special_tokens", false)) << "\n";
    return 0;
  }
  std::string text;
  if (a.has("text")) {
    text = a.get("text");
  } else if (a.has("file")) {
    std::ifstream in(a.get("file"), std::ios::binary);
    if (!in) throw usage_error("cannot open --file '" + a.get("file") + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else {
    throw usage_error("give --text TEXT, --file F or --decode 1,2,3");
  }
  auto ids = tok.encode(text);
  for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? "," : "") << ids[i];
  std::cout << "\n";
  return 0;
}

}  // namespace vlm::cli
