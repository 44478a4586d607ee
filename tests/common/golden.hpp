// Helpers for the Qwen2.5-VL golden tests (tests/data/qwen2_5_vl/*, made by tools/gen_golden_*.py):
//   recorder<T>              a tracer that keeps a copy of every named intermediate
//   golden_relative_error    max|ours - ref| / max|ref| over the elements keep(i) selects
//   read_golden_inputs<T>    input_ids, attention_mask, pixel_values (as T), image_grid_thw
//   token_rows(mask, width)  keep(i) for a flattened [B, L, width] tensor: attention_mask == 1
// The golden tolerance is the one-number "max error relative to the largest reference value"
// the first golden test used (f32: 1e-5), not tolerance.hpp's element-wise rule: logits of a
// random tiny model have many near-zero entries whose own relative error means nothing.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/autograd/tape.hpp"
#include "vlm/core/tensor.hpp"
#include "vlm/io/safetensors.hpp"
#include "vlm/models/qwen2_5_vl/model.hpp"

namespace vlm_test {

template <class T, class B = vlm::cpu>
struct recorder : vlm::tracer<T, B> {
  std::map<std::string, vlm::tensor<T, B>> seen;
  void on_tensor(std::string_view name, const vlm::tensor<T, B>& v) override { seen[std::string(name)] = v.clone(); }
};

// max|a - b| / max|b| over elements where keep(i) holds (both read as float, row-major).
template <class A, class Keep>
double golden_relative_error(const vlm::tensor<A>& ours, const vlm::tensor<float>& ref, Keep keep) {
  if (ours.numel() != ref.numel()) return INFINITY;
  auto a = ours.contiguous().to_vector();
  auto b = ref.contiguous().to_vector();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!keep(i)) continue;
    const double x = static_cast<double>(vlm::convert<float>(a[i])), y = static_cast<double>(b[i]);
    num = std::isfinite(x) ? std::max(num, std::abs(x - y)) : INFINITY;
    den = std::max(den, std::abs(y));
  }
  return den > 0 ? num / den : num;
}
template <class A>
double golden_relative_error(const vlm::tensor<A>& ours, const vlm::tensor<float>& ref) {
  return golden_relative_error(ours, ref, [](std::size_t) { return true; });
}

// keep(i) for a flattened [B, L, width] tensor: the token at i is real (attention_mask == 1).
inline auto token_rows(const std::vector<std::int64_t>& mask, std::int64_t width) {
  return [&mask, width](std::size_t i) { return mask[i / static_cast<std::size_t>(width)] == 1; };
}

template <class T, class B = vlm::cpu>
vlm::qwen2_5_vl::model_inputs<T, B> read_golden_inputs(const vlm::io::safetensors_file& f) {
  vlm::qwen2_5_vl::model_inputs<T, B> in;
  in.input_ids = f.get_as<std::int64_t>("input_ids").clone();
  in.attention_mask = f.get_as<std::int64_t>("attention_mask").clone();
  if (f.contains("pixel_values")) {
    in.pixel_values = f.get_as<T>("pixel_values").clone();
    auto g = f.get_as<std::int64_t>("image_grid_thw");
    for (std::int64_t i = 0; i < g.size(0); ++i) in.image_grids.push_back({g.at({i, 0}), g.at({i, 1}), g.at({i, 2})});
  }
  return in;
}

}  // namespace vlm_test
