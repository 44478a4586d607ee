// Embedding lookup (row gather) and its backward (scatter-add into the table's gradient).
//   embedding(weight [V, C], ids [N]) -> [N, C];  ids int32 or int64, checked against V.
#pragma once
#include <cstring>

#include "vlm/backends/cpu/thread_pool.hpp"
#include "vlm/core/tensor.hpp"

namespace vlm {

template <class T, class I>
tensor<T, cpu> embedding(const tensor<T, cpu>& weight, const tensor<I, cpu>& ids) {
  const std::int64_t V = weight.size(0), C = weight.size(1);
  auto w = weight.contiguous();
  auto ic = ids.contiguous();
  vlm::shape out_shape = ids.shape();
  out_shape.push_back(C);
  auto out = tensor<T, cpu>::empty(out_shape);
  for (std::int64_t n = 0; n < ic.numel(); ++n) {
    std::int64_t id = static_cast<std::int64_t>(ic.data()[n]);
    VLM_CHECK_AS(shape_error, id >= 0 && id < V, "token id ", id, " at position ", n, " is outside the vocabulary [0, ",
                 V, ")");
    std::memcpy(out.data() + n * C, w.data() + id * C, static_cast<std::size_t>(C) * sizeof(T));
  }
  return out;
}

// d_weight[ids[n]] += dy[n] for every n (repeated ids accumulate).
template <class T, class I>
void embedding_backward(const tensor<T, cpu>& dy, const tensor<I, cpu>& ids, tensor<T, cpu>& d_weight) {
  const std::int64_t C = d_weight.size(1);
  auto g = dy.contiguous();
  auto ic = ids.contiguous();
  for (std::int64_t n = 0; n < ic.numel(); ++n) {
    std::int64_t id = static_cast<std::int64_t>(ic.data()[n]);
    T* row = d_weight.data() + id * C;
    const T* src = g.data() + n * C;
    for (std::int64_t c = 0; c < C; ++c) row[c] = convert<T>(static_cast<float>(row[c]) + static_cast<float>(src[c]));
  }
}

}  // namespace vlm
