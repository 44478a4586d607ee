// The layer concept and parameter visiting.
// A layer is a small struct holding parameters (and sub-layers) with
//   template <class Ctx> forward(Ctx&, inputs...)   -- Ctx = vlm::no_grad or vlm::tape<T, B>
//   template <class Visit> void visit_params(Visit&& v, std::string_view prefix)
// where v(name, parameter&) receives the Hugging Face key (prefix + ".weight"), so loading,
// freezing, counting and saving are one generic walk (cf. dlib's visitors).
#pragma once
#include <concepts>
#include <string>
#include <string_view>

#include "vlm/autograd/parameter.hpp"

namespace vlm::nn {

inline std::string join_name(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string s(prefix);
  s += '.';
  s += name;
  return s;
}

// Something with visit_params taking a callable (name, parameter&).
template <class L>
concept layer = requires(L& l) {
  l.visit_params([](const std::string&, auto&) {}, std::string_view{});
};

// Number of scalar parameters of a layer (trainable only if asked).
template <layer L>
std::int64_t count_params(L& l, bool trainable_only = false) {
  std::int64_t n = 0;
  l.visit_params([&](const std::string&, auto& p) {
    if (!trainable_only || p.requires_grad) n += p.numel();
  }, "");
  return n;
}

}  // namespace vlm::nn
