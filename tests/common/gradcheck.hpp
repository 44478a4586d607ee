// check_gradients: the one finite-difference gradient check for every recorded op.
//   check_gradients("name", {{"x", x}, {"w", w, grad_input::parameter}, ...},
//                   [&](auto& ctx, const std::vector<vlm::tensor<float>>& in) { return <output>; });
// The loss is L = <r, output> for a fixed random r, built on the tape as ag::linear(y, r) (so
// any output shape works). Analytic gradients come from tape.backward: tape.grad(x) for
// watched inputs, parameter::grad for inputs passed as parameters (through tape.use).
// Numeric gradients: the ops are f32-only, so f64 central differences are not available;
// we use the 4-point stencil  g = (8 (L(+h) - L(-h)) - (L(+2h) - L(-2h))) / 12h  with
// h = 2^-7, evaluating the forward in f32 and the dot with r in double. Truncation error is
// O(h^4) (~4e-9 here); the f32 rounding noise of L divided by h dominates (~1e-5..1e-4 of a
// unit gradient), so the check uses rel = 5e-3 (see tolerance.hpp for the meaning of rel:
// |analytic - numeric| <= rel * (|numeric| + rms(numeric))) on inputs of scale ~1. A wrong
// factor, a missing term or a transposed index is off by far more than 5e-3.
// All indices of inputs up to max_checked elements are checked; larger ones by a random sample.
// Also checked: analytic gradients are finite, and the tape-free forward records nothing.
// VLM_GRADCHECK_VERBOSE=1 prints every comparison's report (worst error per input).
#pragma once
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>
#include <vlm/autograd.hpp>

#include "random_tensor.hpp"
#include "tolerance.hpp"

namespace vlm_test {

struct grad_input {
  enum kind_t { watched, parameter, constant };
  std::string name;
  vlm::tensor<float> value;
  kind_t kind = watched;
};

struct gradcheck_options {
  double h = 1.0 / 128;
  double rel = 5e-3;
  std::int64_t max_checked = 384;
  std::uint32_t seed = 1234;
};

inline double dot_double(const vlm::tensor<float>& a, const vlm::tensor<float>& b) {
  const auto av = a.to_vector(), bv = b.to_vector();
  double s = 0;
  for (std::size_t i = 0; i < av.size(); ++i) s += static_cast<double>(av[i]) * static_cast<double>(bv[i]);
  return s;
}

// Returns the analytic gradients (in input order; undefined for constants) for further checks.
template <class Build>
std::vector<vlm::tensor<float>> check_gradients(const std::string& what, std::vector<grad_input> inputs, Build&& build,
                                                gradcheck_options opt = {}) {
  INFO("gradcheck " << what);
  for (auto& in : inputs) in.value = in.value.clone();  // owned and contiguous: perturbed in place
  std::vector<vlm::parameter<float>> params(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].kind == grad_input::parameter) params[i] = vlm::parameter<float>(inputs[i].value, true);

  auto run = [&](vlm::tape<float>& t, bool track, std::vector<vlm::tensor<float>>* xs_out) {
    std::vector<vlm::tensor<float>> xs;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!track || inputs[i].kind == grad_input::constant) xs.push_back(inputs[i].value);
      else if (inputs[i].kind == grad_input::parameter) xs.push_back(vlm::ag::use(t, params[i]));
      else xs.push_back(t.watch(inputs[i].value));
    }
    auto y = build(t, xs);
    if (xs_out) *xs_out = xs;
    return y;
  };

  // Analytic.
  vlm::tape<float> t;
  std::vector<vlm::tensor<float>> xs;
  auto y = run(t, true, &xs);
  REQUIRE(y.grad_slot >= 0);
  rng r_rng(opt.seed);
  auto r = randn<float>(r_rng, y.shape());
  const std::int64_t n = y.numel();
  auto loss = vlm::ag::linear(t, y.contiguous().view({1, n}), r.view({1, n}));  // <r, y>
  REQUIRE(std::fabs(loss.item() - dot_double(r, y)) <= 1e-4 * (1 + std::fabs(dot_double(r, y))));
  t.backward(loss);
  std::vector<vlm::tensor<float>> analytic(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].kind == grad_input::constant) continue;
    const auto& g = inputs[i].kind == grad_input::parameter ? params[i].grad : t.grad(xs[i]);
    analytic[i] = g.defined() ? g.clone() : vlm::tensor<float>::zeros(inputs[i].value.shape());
    REQUIRE(analytic[i].numel() == inputs[i].value.numel());
    for (float v : analytic[i].to_vector()) REQUIRE(std::isfinite(v));
  }

  // Numeric.
  auto loss_at = [&] {
    vlm::tape<float> t0;
    auto y0 = run(t0, false, nullptr);
    REQUIRE(t0.size() == 0);  // nothing tracked: nothing recorded
    return dot_double(r, y0);
  };
  rng pick(opt.seed + 1);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].kind == grad_input::constant) continue;
    float* p = inputs[i].value.data();
    const std::int64_t numel = inputs[i].value.numel();
    std::vector<std::int64_t> idx(static_cast<std::size_t>(numel));
    std::iota(idx.begin(), idx.end(), 0);
    if (numel > opt.max_checked) {
      std::shuffle(idx.begin(), idx.end(), pick.gen);
      idx.resize(static_cast<std::size_t>(opt.max_checked));
      std::sort(idx.begin(), idx.end());
    }
    std::vector<double> num, ana;
    const auto av = analytic[i].to_vector();
    for (std::int64_t j : idx) {
      const float orig = p[j];
      auto f = [&](double delta) {
        p[j] = static_cast<float>(orig + delta);
        return loss_at();
      };
      const double g = (8 * (f(opt.h) - f(-opt.h)) - (f(2 * opt.h) - f(-2 * opt.h))) / (12 * opt.h);
      p[j] = orig;
      num.push_back(g);
      ana.push_back(av[static_cast<std::size_t>(j)]);
    }
    const bool all = static_cast<std::int64_t>(idx.size()) == numel;
    const vlm::shape s = all ? inputs[i].value.shape() : vlm::shape{static_cast<std::int64_t>(idx.size())};
    auto res = compare_values("d loss / d " + inputs[i].name + (all ? " (analytic vs numeric)" : " (analytic vs numeric, sample)"),
                              s, ana, num, opt.rel);
    if (std::getenv("VLM_GRADCHECK_VERBOSE")) std::printf("%s: %s\n", what.c_str(), res.report.c_str());
    INFO(res.report);
    CHECK(res.ok);
  }
  return analytic;
}

}  // namespace vlm_test
