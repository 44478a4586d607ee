// Reward functions by name, like ms-swift's `orms` dict and `--reward_funcs a b`:
//   reward_registry::global()     built-ins: format, accuracy, external_ocr_format
//   reg.add("name", factory)      factory(options) -> reward_function; options is a JSON object
//                                 of settings (e.g. {"ocr_mode": "literal"}), like the GRPO
//                                 arguments ms-swift passes to an ORM's constructor
//   reg.get("name", options)      throws config_error listing the known names
//   reward_registrar r{"name", f} registers into global() from a static object in the user's TU
//   load_reward_plugin("x.so")    dlopen + call extern "C" void vlm_register_rewards(reward_registry&)
//   reward_set                    names + weights -> per-function rewards and their weighted sum
// A plugin registers into the registry it is handed (its own copy of global() would be a
// different object: the executable does not export its symbols). The library stays loaded for
// the life of the process, since the registry holds code from it.
// Includes metrics/ (edit distance, Python text predicates), a departure from STYLE.md's
// "rl below metrics": the reward is built on the same OCR metric the evaluation reports.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>  // dlopen, dlsym, dlerror (in glibc itself since 2.34)
#define VLM_HAS_DLOPEN 1
#endif

#include <nlohmann/json.hpp>

#include "vlm/core/error.hpp"            // config_error, io_error
#include "vlm/rl/accuracy_reward.hpp"    // make_accuracy_reward
#include "vlm/rl/format_reward.hpp"      // make_format_reward
#include "vlm/rl/named_registry.hpp"     // named_registry
#include "vlm/rl/ocr_reward.hpp"         // make_ocr_reward
#include "vlm/rl/reward_function.hpp"    // reward_input, reward_function, weighted_reward_sum

namespace vlm::rl {

using reward_options = nlohmann::json;  // an object; absent keys take defaults
using reward_factory = std::function<reward_function(const reward_options&)>;

class reward_registry {
 public:
  // An empty registry (tests, or a program that wants only its own rewards).
  reward_registry() = default;
  reward_registry(const reward_registry&) = delete;
  reward_registry& operator=(const reward_registry&) = delete;

  // The process-wide registry, with the built-ins already added.
  static reward_registry& global() {
    static reward_registry r{builtins_tag{}};
    return r;
  }

  // throws: config_error if `name` is empty or already registered (use replace()).
  void add(const std::string& name, reward_factory factory) { factories_.add(name, std::move(factory)); }
  void replace(const std::string& name, reward_factory factory) { factories_.replace(name, std::move(factory)); }
  bool contains(const std::string& name) const { return factories_.contains(name); }
  std::vector<std::string> names() const { return factories_.names(); }

  // throws: config_error "unknown reward function 'x' (known: a, b, c)"; whatever the factory
  // throws for bad options.
  reward_function get(const std::string& name, const reward_options& options = reward_options::object()) const {
    return factories_.at(name)(options.is_null() ? reward_options::object() : options);
  }

  // Keeps a loaded library alive as long as the registry (internal; see load_reward_plugin).
  void keep_alive(std::shared_ptr<void> handle) {
    std::lock_guard lock(mu_);
    libraries_.push_back(std::move(handle));
  }

 private:
  struct builtins_tag {};
  explicit reward_registry(builtins_tag) {
    factories_.add("format", [](const reward_options&) { return make_format_reward(); });
    factories_.add("accuracy", [](const reward_options&) { return make_accuracy_reward(); });
    factories_.add("external_ocr_format", [](const reward_options& o) {
      ocr_reward_config cfg;
      if (o.contains("ocr_mode")) {
        if (!o["ocr_mode"].is_string()) throw config_error("[rewards] option ocr_mode must be a string (true or literal)");
        cfg.mode = parse_ocr_reward_mode(o["ocr_mode"].get<std::string>());
      }
      return make_ocr_reward(cfg);
    });
  }

  std::mutex mu_;                                 // guards libraries_
  std::vector<std::shared_ptr<void>> libraries_;  // declared first: destroyed after the factories
  named_registry<reward_factory> factories_{
      "rewards", "reward function",
      "Hint: register it with reward_registry::add or load a plugin with --external_plugins"};
};

// `static vlm::rl::reward_registrar my_reward{"my_reward", factory};` at namespace scope in
// the user's own TU adds it to reward_registry::global() before main() runs.
struct reward_registrar {
  reward_registrar(const std::string& name, reward_factory factory) {
    reward_registry::global().add(name, std::move(factory));
  }
};

// The type of the entry point a plugin defines: extern "C" void vlm_register_rewards(reward_registry&).
using vlm_register_rewards_fn = void (*)(reward_registry&);

// dlopen `path` and call its vlm_register_rewards(reg).
// throws: io_error (cannot load, with dlerror's text) or config_error (no such symbol).
inline void load_reward_plugin(const std::string& path, reward_registry& reg = reward_registry::global()) {
#ifdef VLM_HAS_DLOPEN
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = ::dlerror();
    throw io_error("[rewards] cannot load reward plugin '" + path + "': " + (e ? e : "unknown error") +
                   ". Hint: a path without '/' is searched like a library name; use ./name.so");
  }
  ::dlerror();
  void* sym = ::dlsym(h, "vlm_register_rewards");
  if (!sym) {
    ::dlclose(h);
    throw config_error("[rewards] reward plugin '" + path +
                       "' has no function vlm_register_rewards. Hint: define extern \"C\" void "
                       "vlm_register_rewards(vlm::rl::reward_registry&)");
  }
  reg.keep_alive(std::shared_ptr<void>(h, [](void*) {}));  // never dlclose: factories live in it
  reinterpret_cast<vlm_register_rewards_fn>(sym)(reg);
#else
  (void)reg;
  throw config_error("[rewards] loading reward plugin '" + path + "' needs dlopen (POSIX)");
#endif
}

// Several named reward functions with weights: what GRPO's --reward_funcs/--reward_weights
// build once and call for every batch.
class reward_set {
 public:
  // throws: config_error for an unknown name or a weight count that does not match.
  reward_set(const std::vector<std::string>& names, std::vector<double> weights = {},
             const reward_options& options = reward_options::object(),
             const reward_registry& reg = reward_registry::global())
      : names_(names), weights_(std::move(weights)) {
    if (names_.empty()) throw config_error("[rewards] no reward functions given (--reward_funcs)");
    if (!weights_.empty() && weights_.size() != names_.size())
      throw config_error("[rewards] " + std::to_string(weights_.size()) + " reward weights for " +
                         std::to_string(names_.size()) + " reward functions");
    for (const auto& n : names_) funcs_.push_back(reg.get(n, options));
  }

  const std::vector<std::string>& names() const { return names_; }

  struct result {
    std::vector<std::vector<double>> per_func;  // [function][input]
    std::vector<double> total;                  // weighted sum per input, NaN skipped
  };

  // throws: config_error if a function returns the wrong number of values.
  result operator()(std::span<const reward_input> in) const {
    result r;
    for (std::size_t k = 0; k < funcs_.size(); ++k) {
      r.per_func.push_back(funcs_[k](in));
      if (r.per_func.back().size() != in.size())
        throw config_error("[rewards] reward function '" + names_[k] + "' returned " +
                           std::to_string(r.per_func.back().size()) + " values for " + std::to_string(in.size()) +
                           " completions");
    }
    r.total = weighted_reward_sum(r.per_func, weights_);
    return r;
  }

 private:
  std::vector<std::string> names_;
  std::vector<double> weights_;
  std::vector<reward_function> funcs_;
};

}  // namespace vlm::rl
