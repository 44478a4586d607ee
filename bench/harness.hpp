// A small benchmark harness (STYLE.md section 9), after MLX benchmarks/cpp/time_utils.h:
//   measure(fn)      -- warm up, repeat until a minimum time and count, return median and min
//   machine()        -- CPU model (/proc/cpuinfo), ISA, thread count, compiler, commit, date
//   json_line        -- one JSON object per case, printed on one line for tools/compare_bench.py
// The commit comes from the VLM_GIT_COMMIT environment variable if set, else from the
// VLM_GIT_COMMIT compile definition (git describe at configure time: stale until cmake reruns).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "vlm/backends/cpu/thread_pool.hpp"

namespace vlm::bench {

struct timing {
  double median_s = 0, min_s = 0;
  int reps = 0;
};

struct measure_options {
  double min_time_s = 0.5;  // keep repeating until this much time is spent timing...
  int min_reps = 5;         // ...and at least this many repeats
  int max_reps = 1000;
  int warmup = 2;
};

// Times fn() (one call = one repeat). Median is the headline; min shows the noise floor.
template <class F>
timing measure(F&& fn, measure_options opt = {}) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < opt.warmup; ++i) fn();
  std::vector<double> t;
  double total = 0;
  while ((total < opt.min_time_s || static_cast<int>(t.size()) < opt.min_reps) &&
         static_cast<int>(t.size()) < opt.max_reps) {
    auto t0 = clock::now();
    fn();
    double s = std::chrono::duration<double>(clock::now() - t0).count();
    t.push_back(s);
    total += s;
  }
  std::sort(t.begin(), t.end());
  timing r;
  r.reps = static_cast<int>(t.size());
  r.min_s = t.front();
  r.median_s = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
  return r;
}

// Keeps a value alive so the optimiser cannot drop the work that produced it.
template <class T>
inline void do_not_optimize(const T& v) {
  asm volatile("" : : "r,m"(v) : "memory");
}

struct machine_info {
  std::string cpu;       // "model name" from /proc/cpuinfo
  std::string isa;       // widest SIMD the binary was compiled for
  int hw_threads = 0;    // std::thread::hardware_concurrency
  int pool_threads = 0;  // vlm's CPU pool (VLM_NUM_THREADS)
  std::string compiler, commit, date;
};

inline std::string cpuinfo_field(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) {
      auto c = line.find(':');
      if (c == std::string::npos) continue;
      auto v = line.substr(c + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "unknown";
}

inline machine_info machine() {
  machine_info m;
  m.cpu = cpuinfo_field("model name");
#if defined(__AVX512F__)
  m.isa = "avx512f";
#elif defined(__AVX2__) && defined(__FMA__)
  m.isa = "avx2+fma";
#elif defined(__AVX__)
  m.isa = "avx";
#elif defined(__ARM_NEON)
  m.isa = "neon";
#else
  m.isa = "scalar";
#endif
  m.hw_threads = static_cast<int>(std::thread::hardware_concurrency());
  m.pool_threads = vlm::cpu_detail::thread_pool::global().size();
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "gcc " __VERSION__;
#else
  m.compiler = "unknown";
#endif
  if (const char* c = std::getenv("VLM_GIT_COMMIT"); c && *c) m.commit = c;
#if defined(VLM_GIT_COMMIT)
  else m.commit = VLM_GIT_COMMIT;
#endif
  if (m.commit.empty()) m.commit = "unknown";
  char buf[32];
  std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  m.date = buf;
  return m;
}

// One benchmark case: fields in insertion order, printed as a single JSON line.
// Every line carries the machine so lines from different files can be told apart.
class json_line {
 public:
  json_line(const std::string& name, const machine_info& m) {
    j_["name"] = name;
    j_["cpu"] = m.cpu;
    j_["threads"] = m.pool_threads;
    j_["commit"] = m.commit;
    j_["date"] = m.date;
  }
  template <class V>
  json_line& set(const std::string& key, const V& v) {
    j_[key] = v;
    return *this;
  }
  json_line& set_time(const timing& t) {
    j_["median_ms"] = t.median_s * 1e3;
    j_["min_ms"] = t.min_s * 1e3;
    j_["reps"] = t.reps;
    return *this;
  }
  void print(std::FILE* out = stdout) const {
    std::fprintf(out, "%s\n", j_.dump().c_str());
    std::fflush(out);
  }

 private:
  nlohmann::ordered_json j_;
};

}  // namespace vlm::bench
