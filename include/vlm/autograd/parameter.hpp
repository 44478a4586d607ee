// parameter<T, Backend>: a trainable (or frozen) tensor with its persistent gradient buffer.
// Frozen parameters (requires_grad = false) never get a gradient buffer. Gradients accumulate
// across backward calls until zero_grad(), which is what gradient accumulation needs.
#pragma once
#include "vlm/core/tensor.hpp"

namespace vlm {

template <class T, class Backend = cpu>
struct parameter {
  tensor<T, Backend> value;
  // Allocated on first use by a tape, only when requires_grad. mutable: a const model still
  // accumulates gradients (the buffer is bookkeeping, not the parameter's value).
  mutable tensor<T, Backend> grad;
  bool requires_grad = true;

  parameter() = default;
  explicit parameter(tensor<T, Backend> v, bool trainable = true) : value(std::move(v)), requires_grad(trainable) {}

  const vlm::shape& shape() const { return value.shape(); }
  std::int64_t numel() const { return value.numel(); }
  bool defined() const { return value.defined(); }
  // Makes sure the gradient buffer exists (zeros) and returns it.
  tensor<T, Backend>& ensure_grad() const {
    if (!grad.defined()) grad = tensor<T, Backend>::zeros(value.shape());
    return grad;
  }
  void zero_grad() {
    if (grad.defined()) backend_memory<Backend>::fill_zero(grad.data(), static_cast<std::size_t>(grad.numel()) * sizeof(T));
  }
  void freeze() {
    requires_grad = false;
    grad = {};
  }
};

}  // namespace vlm
