// Command-line flags for the vlm program, spelled like ms-swift (--max_new_tokens) with the
// dash spelling (--max-new-tokens) accepted as an alias. Unknown flags are errors.
#pragma once
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <vlm/core/error.hpp>

namespace vlm::cli {

// Thrown for bad command lines and bad input files; main() prints it on one line, exit 2.
struct usage_error : vlm::error {
  using vlm::error::error;
};

class args {
 public:
  // known: flag names in underscore spelling; repeatable ones may appear several times.
  // multi: flags that take several values (--target_modules q_proj v_proj), swift's nargs='+'.
  args(int argc, char** argv, int first, const std::set<std::string>& known, const std::set<std::string>& boolean = {},
       const std::set<std::string>& multi = {}) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + a + "' (flags start with --)");
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      for (auto& c : name)
        if (c == '-') c = '_';
      if (!known.count(name)) throw usage_error("unknown flag --" + name + " (known: " + list(known) + ")");
      if (value.empty() && a.find('=') == std::string::npos) {
        if (boolean.count(name) && (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)) {
          value = "true";
        } else {
          if (i + 1 >= argc) throw usage_error("flag --" + name + " needs a value");
          value = argv[++i];
        }
      }
      values_[name].push_back(value);
      if (multi.count(name))
        while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) values_[name].push_back(argv[++i]);
    }
  }
  // Everything given, as JSON (for args.json).
  nlohmann::json to_json() const {
    nlohmann::json j;
    for (const auto& [k, v] : values_) j[k] = v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v);
    return j;
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second.back();
  }
  std::string required(const std::string& name) const {
    if (!has(name)) throw usage_error("missing required flag --" + name);
    return get(name);
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  long long get_int(const std::string& name, long long fallback) const {
    if (!has(name)) return fallback;
    return parse_int(name, get(name));
  }
  double get_double(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    try {
      std::size_t used = 0;
      double v = std::stod(get(name), &used);
      if (used != get(name).size()) throw std::invalid_argument("trailing");
      return v;
    } catch (const std::exception&) {
      throw usage_error("flag --" + name + " expects a number, got '" + get(name) + "'");
    }
  }
  bool get_bool(const std::string& name, bool fallback) const {
    if (!has(name)) return fallback;
    std::string v = get(name);
    if (v == "true" || v == "True" || v == "1") return true;
    if (v == "false" || v == "False" || v == "0") return false;
    throw usage_error("flag --" + name + " expects true or false, got '" + v + "'");
  }
  static long long parse_int(const std::string& name, const std::string& v) {
    try {
      std::size_t used = 0;
      long long x = std::stoll(v, &used);
      if (used != v.size()) throw std::invalid_argument("trailing");
      return x;
    } catch (const std::exception&) {
      throw usage_error("flag --" + name + " expects an integer, got '" + v + "'");
    }
  }
  // "1,2,3" -> {1, 2, 3}
  static std::vector<long long> parse_int_list(const std::string& name, const std::string& v) {
    std::vector<long long> out;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      out.push_back(parse_int(name, item));
    }
    if (out.empty()) throw usage_error("flag --" + name + " expects a comma-separated list of integers");
    return out;
  }

 private:
  static std::string list(const std::set<std::string>& s) {
    std::string r;
    for (const auto& x : s) r += (r.empty() ? "--" : ", --") + x;
    return r;
  }
  std::map<std::string, std::vector<std::string>> values_;
};

// --min_pixels / --max_pixels, else the MIN_PIXELS / MAX_PIXELS environment variables that
// ms-swift reads (the seed runs `MAX_PIXELS=1003520 swift infer ...`).
template <class Processor>
void apply_pixel_limits(const args& a, Processor& p) {
  auto from = [&](const char* flag, const char* env, auto& out) {
    if (a.has(flag)) {
      out = a.get_int(flag, 0);
      return;
    }
    if (const char* v = std::getenv(env); v && *v) {
      char* end = nullptr;
      const long long x = std::strtoll(v, &end, 10);
      if (*end != '\0' || x <= 0) throw usage_error(std::string("environment variable ") + env + "='" + v + "' is not a positive integer");
      out = x;
    }
  };
  from("min_pixels", "MIN_PIXELS", p.min_pixels);
  from("max_pixels", "MAX_PIXELS", p.max_pixels);
}

}  // namespace vlm::cli
