// A thread-safe table of named entries, the shape shared by the reward registry (ms-swift's
// `orms`) and the dataset preprocessor registry (ms-swift's registered preprocess_func):
// add (refuses duplicates), replace, contains, sorted names, and a lookup whose error lists the
// known names: "[rewards] unknown reward function 'x' (known: a, b). Hint: ...".
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vlm/core/error.hpp"  // config_error

namespace vlm::rl {

template <class Value>
class named_registry {
 public:
  // component: the message prefix ("rewards"); what: the entry's noun ("reward function");
  // hint: appended to the unknown-name error.
  named_registry(std::string component, std::string what, std::string hint)
      : component_(std::move(component)), what_(std::move(what)), hint_(std::move(hint)) {}
  named_registry(const named_registry&) = delete;
  named_registry& operator=(const named_registry&) = delete;

  // throws: config_error if `name` is empty or already registered (use replace()).
  void add(const std::string& name, Value v) {
    if (name.empty()) throw config_error("[" + component_ + "] a " + what_ + " needs a non-empty name");
    std::lock_guard lock(mu_);
    if (entries_.count(name))
      throw config_error("[" + component_ + "] " + what_ + " '" + name + "' is already registered. Hint: use replace()");
    entries_[name] = std::move(v);
  }
  void replace(const std::string& name, Value v) {
    std::lock_guard lock(mu_);
    entries_[name] = std::move(v);
  }
  bool contains(const std::string& name) const {
    std::lock_guard lock(mu_);
    return entries_.count(name) > 0;
  }
  std::vector<std::string> names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [k, v] : entries_) out.push_back(k);
    return out;
  }
  // A copy of the entry (callers use it outside the lock).
  // throws: config_error "unknown <what> 'x' (known: a, b, c). <hint>".
  Value at(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      std::string known;
      for (const auto& [k, v] : entries_) known += (known.empty() ? "" : ", ") + k;
      throw config_error("[" + component_ + "] unknown " + what_ + " '" + name + "' (known: " + known + ")" +
                         (hint_.empty() ? "" : ". " + hint_));
    }
    return it->second;
  }

 private:
  std::string component_, what_, hint_;
  mutable std::mutex mu_;
  std::map<std::string, Value> entries_;
};

}  // namespace vlm::rl
