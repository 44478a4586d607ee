// The autograd tape: a list of coarse recorded ops (linear, add, mul, rms_norm, rotary,
// attention core, silu*mul, embedding, cross-entropy, ...) each with a hand-written backward.
//
// Contexts: every layer's forward takes a `Ctx&`. `vlm::no_grad` records nothing (the
// `if constexpr` in each op compiles the recording away: zero overhead for inference);
// `vlm::tape<T, Backend>` records. A value produced on a tape carries `grad_slot` (its index
// in the tape's gradient table); a parameter used on a tape gets a slot bound to its own
// persistent `grad` buffer, so backward accumulates straight into it. Frozen parameters and
// untracked inputs get no slot and no gradient work.
//
// clear() empties the tape but keeps its vectors' capacity; freed gradient buffers go back
// to the backend's caching allocator, so a training step reuses the previous step's memory.
#pragma once
#include <array>
#include <random>
#include <memory>
#include <string_view>
#include <vector>

#include "vlm/autograd/parameter.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

// Optional observer of named intermediates (golden tests compare layer by layer).
template <class T, class Backend>
struct tracer {
  virtual ~tracer() = default;
  virtual void on_tensor(std::string_view name, const tensor<T, Backend>& value) = 0;
};

// Inference context: records nothing; optionally forwards named intermediates to a tracer.
struct no_grad {
  void* tracer_ = nullptr;  // a tracer<T, Backend>* when installed
  template <class T, class B>
  void trace(const tensor<T, B>& x, std::string_view name) {
    if (tracer_) static_cast<tracer<T, B>*>(tracer_)->on_tensor(name, x);
  }
};

template <class T, class Backend = cpu>
class tape {
 public:
  using value_type = T;
  using backend_type = Backend;

  // One recorded op. The backward reads saved tensors and the output slot's gradient and
  // accumulates into the input slots' gradients.
  struct node {
    void (*backward)(tape&, node&) = nullptr;
    std::array<tensor<T, Backend>, 6> saved{};
    std::array<int, 4> in{-1, -1, -1, -1};  // input slots (-1: no gradient wanted)
    int out = -1;                            // output slot
    std::array<float, 4> f{};
    std::array<std::int64_t, 4> i{};
    std::shared_ptr<const void> extra;  // op-specific data (masks, index tensors)
  };

  tape() { nodes_.reserve(256); }

  // ---- recording (called by the ops in autograd/ops.hpp) ----
  bool tracking(const tensor<T, Backend>& x) const { return x.grad_slot >= 0; }
  // Slot for a parameter (bound to its grad buffer); -1 if frozen.
  int leaf(const parameter<T, Backend>& p) {
    if (!p.requires_grad) return -1;
    for (std::size_t s = 0; s < leaf_params_.size(); ++s)
      if (leaf_params_[s].first == &p) return leaf_params_[s].second;
    int slot = new_slot(p.shape());
    grads_[static_cast<std::size_t>(slot)] = p.ensure_grad();
    leaf_params_.push_back({&p, slot});
    return slot;
  }
  // A parameter's value, tagged with its slot so ops on it are recorded.
  tensor<T, Backend> use(const parameter<T, Backend>& p) {
    tensor<T, Backend> v = p.value;
    v.grad_slot = leaf(p);
    return v;
  }
  // Marks an input tensor as wanting a gradient (e.g. for tests); returns the tagged handle.
  tensor<T, Backend> watch(tensor<T, Backend> x) {
    x.grad_slot = new_slot(x.shape());
    return x;
  }
  // A gradient slot for a value of shape s. Its gradient is kept in that shape, whatever view
  // of the value a consumer saw: the consumer of y.view({1, n}) hands back a [1, n] gradient,
  // and y's producer reads dy in y's own shape (mul, rotary, scatter_rows... depend on it).
  int new_slot(const vlm::shape& s) {
    grads_.emplace_back();
    slot_shapes_.push_back({true, s});
    return static_cast<int>(grads_.size()) - 1;
  }
  // A slot whose gradient takes the shape of the first gradient that flows into it.
  int new_slot() {
    grads_.emplace_back();
    slot_shapes_.push_back({false, vlm::shape{}});
    return static_cast<int>(grads_.size()) - 1;
  }
  node& record(void (*backward)(tape&, node&)) {
    nodes_.emplace_back();
    nodes_.back().backward = backward;
    return nodes_.back();
  }
  template <class U, class B>
  void trace(const tensor<U, B>& x, std::string_view name) {
    if (tracer_) static_cast<tracer<U, B>*>(tracer_)->on_tensor(name, x);
  }
  void* tracer_ = nullptr;

  // Randomness for training-only ops (dropout): seeded, so a step is reproducible.
  std::mt19937_64& rng() { return rng_; }
  void seed(std::uint64_t s) { rng_.seed(s); }

  // ---- gradients ----
  // Gradient of a slot (undefined until something flowed into it).
  const tensor<T, Backend>& grad(int slot) const { return grads_.at(static_cast<std::size_t>(slot)); }
  const tensor<T, Backend>& grad(const tensor<T, Backend>& x) const { return grad(x.grad_slot); }
  // grad[slot] += g  (g reshaped to the slot's element count; allocates zeros on first use).
  void accumulate(int slot, const tensor<T, Backend>& g) {
    if (slot < 0) return;
    auto& dst = grads_[static_cast<std::size_t>(slot)];
    if (!dst.defined()) {
      const auto& [known, s] = slot_shapes_[static_cast<std::size_t>(slot)];
      VLM_CHECK_AS(shape_error, !known || s.numel() == g.numel(), "gradient for slot ", slot, " has ", g.numel(),
                   " elements, expected ", s.numel(), " (", s.str(), ")");
      dst = g.contiguous().clone();
      if (known) dst = dst.view(s);
      return;
    }
    VLM_CHECK_AS(shape_error, dst.numel() == g.numel(), "gradient for slot ", slot, " has ", g.numel(),
                 " elements, expected ", dst.numel());
    auto flat = dst.view({dst.numel()});
    add_(flat, g.contiguous().view({g.numel()}));
  }

  // Runs every recorded backward in reverse order, seeding d(loss) = seed.
  // requires: loss was produced on this tape and has one element.
  void backward(const tensor<T, Backend>& loss, float seed = 1.f) {
    VLM_CHECK(loss.grad_slot >= 0, "backward: the loss was not computed on this tape (or nothing in it needs a gradient)");
    VLM_CHECK_AS(shape_error, loss.numel() == 1, "backward: loss must have one element, got ", loss.shape().str());
    // Gradients of recorded outputs belong to one backward call: clear the previous call's, so
    // a second backward (same loss or another loss on this tape) adds its own contribution to
    // the leaves (parameters, watched inputs) once, instead of re-propagating the first's.
    for (const auto& n : nodes_)
      if (n.out >= 0) grads_[static_cast<std::size_t>(n.out)] = {};
    accumulate(loss.grad_slot, tensor<T, Backend>::full(loss.shape(), convert<T>(seed)));
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
      if (it->out < 0 || !grads_[static_cast<std::size_t>(it->out)].defined()) continue;
      it->backward(*this, *it);
    }
  }

  // Forgets the recorded ops and activation gradients; parameter grads keep their values.
  void clear() {
    nodes_.clear();
    grads_.clear();
    slot_shapes_.clear();
    leaf_params_.clear();
  }
  std::size_t size() const { return nodes_.size(); }

 private:
  std::vector<node> nodes_;
  std::vector<tensor<T, Backend>> grads_;
  std::vector<std::pair<bool, vlm::shape>> slot_shapes_;  // per slot: shape known?, shape
  std::vector<std::pair<const parameter<T, Backend>*, int>> leaf_params_;
  std::mt19937_64 rng_{0};
};

template <class Ctx> inline constexpr bool is_tape_v = false;
template <class T, class B> inline constexpr bool is_tape_v<tape<T, B>> = true;

}  // namespace vlm
