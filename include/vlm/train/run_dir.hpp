// The run folder of a training job, as ms-swift lays it out (spec 2.9): with add_version,
// <output_dir>/v<N>-<YYYYMMDD-HHMMSS> where N = 1 + the largest existing v<N> (starting at v0);
// without, output_dir itself.
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <string>

namespace vlm::train {

inline std::filesystem::path make_run_dir(const std::filesystem::path& output_dir, bool add_version) {
  namespace fs = std::filesystem;
  fs::create_directories(output_dir);
  if (!add_version) return output_dir;
  int next = 0;
  for (const auto& e : fs::directory_iterator(output_dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 1 && name[0] == 'v' && std::isdigit(static_cast<unsigned char>(name[1])))
      next = std::max(next, std::atoi(name.c_str() + 1) + 1);
  }
  const auto now = std::time(nullptr);
  std::ostringstream ts;
  ts << std::put_time(std::localtime(&now), "%Y%m%d-%H%M%S");
  fs::path dir = output_dir / ("v" + std::to_string(next) + "-" + ts.str());
  fs::create_directories(dir);
  return dir;
}

}  // namespace vlm::train
