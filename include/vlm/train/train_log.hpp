// ms-swift's training log record (spec 2.8): the printed dict and one line of logging.jsonl.
// Time strings: "1h 18m 15s" (leading zero units dropped); percentages "15.09%"; floats rounded
// to 8 decimals. Also a tqdm-style progress bar with ETA for stderr.
#pragma once
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace vlm::train {

inline std::string format_duration(double seconds) {
  auto s = static_cast<long long>(std::floor(std::max(0.0, seconds)));
  long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  return out + std::to_string(sec) + "s";
}

inline double round8(double x) { return std::round(x * 1e8) / 1e8; }

inline std::string percentage(std::int64_t step, std::int64_t total) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", total > 0 ? 100.0 * static_cast<double>(step) / static_cast<double>(total) : 0.0);
  return buf;
}

// tqdm-like: "Train:  15%|####      | 850/5568 [1:19:01<5:59:45,  4.58s/it]"
inline std::string progress_bar(const char* label, std::int64_t step, std::int64_t total, double elapsed) {
  auto clock = [](double s) {
    auto t = static_cast<long long>(std::max(0.0, s));
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(b, sizeof b, "%02lld:%02lld", t / 60, t % 60);
    return std::string(b);
  };
  const int width = 30;
  const double frac = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, ' ');
  const double per = step > 0 ? elapsed / static_cast<double>(step) : 0.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %3d%%|%s| %lld/%lld [%s<%s, %.2fs/it]", label, static_cast<int>(frac * 100), bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(total), clock(elapsed).c_str(),
                clock(per * static_cast<double>(total - step)).c_str(), per);
  return buf;
}

}  // namespace vlm::train
