// Recorded ops (namespace vlm::ag): each forward runs the backend op and, on a tape, records
// a node whose backward sits right below it. With Ctx = no_grad they are the plain backend
// ops (the recording is compiled away).
//   use(ctx, p)              parameter value, tracked on a tape when trainable
//   linear, add, mul, scale, rms_norm, rotary, attention, silu_mul, gelu, embedding,
//   cross_entropy, narrow, gather_rows, scatter_rows
// Gradient conventions: activation gradients are accumulated into the tape's slots
// (tape::accumulate); parameter slots are bound to parameter::grad, so they accumulate
// across backward calls too.
#pragma once
#include <memory>

#include "vlm/autograd/tape.hpp"
// The backend ops are called qualified (vlm::linear, ...), which binds at definition: so every
// available backend's ops are included here, before the definitions below.
#include "vlm/backends/cpu.hpp"
#if VLM_CUDA_KERNELS
#include "vlm/backends/cuda.hpp"
#endif

namespace vlm::ag {

namespace detail {
template <class Ctx, class T, class B>
bool recording(Ctx& ctx, std::initializer_list<const tensor<T, B>*> inputs) {
  if constexpr (is_tape_v<Ctx>) {
    for (auto* x : inputs)
      if (x && x->defined() && x->grad_slot >= 0) return true;
  }
  return false;
}
template <class T, class B>
tensor<T, B> zeros_like(const tensor<T, B>& x) { return tensor<T, B>::zeros(x.shape()); }
}  // namespace detail

template <class Ctx, class T, class B>
tensor<T, B> use(Ctx& ctx, const parameter<T, B>& p) {
  if constexpr (is_tape_v<Ctx>) return ctx.use(p);
  else return p.value;
}

// ---- linear: y = x w^T + b ----------------------------------------------------------------
template <class Tape>
void linear_backward(Tape& t, typename Tape::node& n) {
  const auto &x = n.saved[0], &w = n.saved[1];
  const auto& dy = t.grad(n.out);
  const std::int64_t K = x.size(-1), N = w.size(0), M = x.numel() / K;
  auto dy2 = dy.contiguous().view({M, N});
  if (n.in[0] >= 0) t.accumulate(n.in[0], matmul(dy2, w));                          // dx = dy w
  if (n.in[1] >= 0) t.accumulate(n.in[1], matmul(dy2, x.contiguous().view({M, K}), true, false));  // dw = dy^T x
  if (n.in[2] >= 0) t.accumulate(n.in[2], sum_rows(dy2));                             // db = sum dy
}
template <class Ctx, class T, class B>
tensor<T, B> linear(Ctx& ctx, const tensor<T, B>& x, const tensor<T, B>& w, const tensor<T, B>& b = {}) {
  auto y = vlm::linear(x, w, b);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x, &w, &b})) {
      auto& n = ctx.record(&linear_backward<Ctx>);
      n.saved[0] = x;
      n.saved[1] = w;
      n.in = {x.grad_slot, w.grad_slot, b.defined() ? b.grad_slot : -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- add / mul / scale (same shapes) ----------------------------------------------------
template <class Tape>
void add_backward(Tape& t, typename Tape::node& n) {
  t.accumulate(n.in[0], t.grad(n.out));
  t.accumulate(n.in[1], t.grad(n.out));
}
template <class Ctx, class T, class B>
tensor<T, B> add(Ctx& ctx, const tensor<T, B>& a, const tensor<T, B>& b) {
  VLM_CHECK_AS(shape_error, a.shape() == b.shape(), "ag::add: ", a.shape().str(), " vs ", b.shape().str());
  auto y = vlm::add(a, b);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&a, &b})) {
      auto& n = ctx.record(&add_backward<Ctx>);
      n.in = {a.grad_slot, b.grad_slot, -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}
template <class Tape>
void mul_backward(Tape& t, typename Tape::node& n) {
  const auto& dy = t.grad(n.out);
  if (n.in[0] >= 0) t.accumulate(n.in[0], vlm::mul(dy, n.saved[1]));
  if (n.in[1] >= 0) t.accumulate(n.in[1], vlm::mul(dy, n.saved[0]));
}
template <class Ctx, class T, class B>
tensor<T, B> mul(Ctx& ctx, const tensor<T, B>& a, const tensor<T, B>& b) {
  VLM_CHECK_AS(shape_error, a.shape() == b.shape(), "ag::mul: ", a.shape().str(), " vs ", b.shape().str());
  auto y = vlm::mul(a, b);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&a, &b})) {
      auto& n = ctx.record(&mul_backward<Ctx>);
      n.saved[0] = a;
      n.saved[1] = b;
      n.in = {a.grad_slot, b.grad_slot, -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}
template <class Tape>
void scale_backward(Tape& t, typename Tape::node& n) {
  t.accumulate(n.in[0], vlm::scale(t.grad(n.out), n.f[0]));
}
template <class Ctx, class T, class B>
tensor<T, B> scale(Ctx& ctx, const tensor<T, B>& a, float s) {
  auto y = vlm::scale(a, s);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&a})) {
      auto& n = ctx.record(&scale_backward<Ctx>);
      n.in[0] = a.grad_slot;
      n.f[0] = s;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- rms_norm ---------------------------------------------------------------------------
template <class Tape>
void rms_norm_backward_node(Tape& t, typename Tape::node& n) {
  const auto &x = n.saved[0], &w = n.saved[1];
  tensor<typename Tape::value_type, typename Tape::backend_type> dw;
  if (n.in[1] >= 0) dw = detail::zeros_like(w);
  auto dx = vlm::rms_norm_backward(x, w, n.f[0], t.grad(n.out), n.in[1] >= 0 ? &dw : nullptr);
  t.accumulate(n.in[0], dx);
  if (n.in[1] >= 0) t.accumulate(n.in[1], dw);
}
template <class Ctx, class T, class B>
tensor<T, B> rms_norm(Ctx& ctx, const tensor<T, B>& x, const tensor<T, B>& w, float eps) {
  auto y = vlm::rms_norm(x, w, eps);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x, &w})) {
      auto& n = ctx.record(&rms_norm_backward_node<Ctx>);
      n.saved[0] = x;
      n.saved[1] = w;
      n.f[0] = eps;
      n.in = {x.grad_slot, w.grad_slot, -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- rotary (cos/sin are constants) -------------------------------------------------------
template <class Tape>
struct rotary_tables {
  tensor<float, typename Tape::backend_type> cos, sin;
};
template <class Tape>
void rotary_backward_node(Tape& t, typename Tape::node& n) {
  auto tab = std::static_pointer_cast<const rotary_tables<Tape>>(n.extra);
  t.accumulate(n.in[0], vlm::apply_rotary_backward(t.grad(n.out), tab->cos, tab->sin));
}
template <class Ctx, class T, class B>
tensor<T, B> rotary(Ctx& ctx, const tensor<T, B>& x, const tensor<float, B>& cos, const tensor<float, B>& sin) {
  auto y = vlm::apply_rotary(x, cos, sin);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x})) {
      auto& n = ctx.record(&rotary_backward_node<Ctx>);
      n.extra = std::make_shared<rotary_tables<Ctx>>(rotary_tables<Ctx>{cos, sin});
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- attention core ----------------------------------------------------------------------
template <class Tape>
struct attention_saved {
  attention_mask mask;
  tensor<float, typename Tape::backend_type> probs;
};
template <class Tape>
void attention_backward_node(Tape& t, typename Tape::node& n) {
  auto s = std::static_pointer_cast<const attention_saved<Tape>>(n.extra);
  tensor<float, typename Tape::backend_type> dq, dk, dv;
  if constexpr (std::is_same_v<typename Tape::value_type, float>) {
    vlm::attention_backward(n.saved[0], n.saved[1], n.saved[2], s->probs, s->mask, n.f[0], t.grad(n.out), dq, dk, dv);
    t.accumulate(n.in[0], dq);
    t.accumulate(n.in[1], dk);
    t.accumulate(n.in[2], dv);
  } else {
    fail("[attention] backward is implemented for f32 activations only");
  }
}
// q [B,Sq,H,D], k/v [B,Sk,Hkv,D] -> [B,Sq,H,D]
template <class Ctx, class T, class B>
tensor<T, B> attention(Ctx& ctx, const tensor<T, B>& q, const tensor<T, B>& k, const tensor<T, B>& v,
                       const attention_mask& mask, float scale) {
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&q, &k, &v})) {
      auto saved = std::make_shared<attention_saved<Ctx>>();
      saved->mask = mask;
      auto y = vlm::attention(q, k, v, mask, scale, &saved->probs);
      auto& n = ctx.record(&attention_backward_node<Ctx>);
      n.saved[0] = q;
      n.saved[1] = k;
      n.saved[2] = v;
      n.f[0] = scale;
      n.extra = saved;
      n.in = {q.grad_slot, k.grad_slot, v.grad_slot, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
      return y;
    }
  }
  return vlm::attention(q, k, v, mask, scale);
}

// ---- dropout (training only: identity without a tape or with p = 0) -------------------
template <class Tape>
void dropout_backward(Tape& t, typename Tape::node& n) {
  t.accumulate(n.in[0], vlm::mul(t.grad(n.out), n.saved[0]));
}
// y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) from the tape's generator.
template <class Ctx, class T, class B>
tensor<T, B> dropout(Ctx& ctx, const tensor<T, B>& x, float p) {
  if constexpr (is_tape_v<Ctx>) {
    if (p > 0.f) {
      std::bernoulli_distribution keep(1.0 - p);
      std::vector<T> m(static_cast<std::size_t>(x.numel()));
      const T kept = convert<T>(1.f / (1.f - p)), dropped = convert<T>(0.f);
      for (auto& v : m) v = keep(ctx.rng()) ? kept : dropped;
      auto mask = tensor<T, B>::from_host(x.shape(), m);
      auto y = vlm::mul(x.contiguous(), mask);
      if (detail::recording(ctx, {&x})) {
        auto& n = ctx.record(&dropout_backward<Ctx>);
        n.saved[0] = mask;
        n.in[0] = x.grad_slot;
        y.grad_slot = n.out = ctx.new_slot(y.shape());
      }
      return y;
    }
  }
  return x;
}

// ---- activations --------------------------------------------------------------------------
template <class Tape>
void silu_mul_backward_node(Tape& t, typename Tape::node& n) {
  tensor<typename Tape::value_type, typename Tape::backend_type> dg, du;
  vlm::silu_mul_backward(n.saved[0], n.saved[1], t.grad(n.out), dg, du);
  t.accumulate(n.in[0], dg);
  t.accumulate(n.in[1], du);
}
template <class Ctx, class T, class B>
tensor<T, B> silu_mul(Ctx& ctx, const tensor<T, B>& gate, const tensor<T, B>& up) {
  auto y = vlm::silu_mul(gate, up);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&gate, &up})) {
      auto& n = ctx.record(&silu_mul_backward_node<Ctx>);
      n.saved[0] = gate;
      n.saved[1] = up;
      n.in = {gate.grad_slot, up.grad_slot, -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}
template <class Tape>
void gelu_backward_node(Tape& t, typename Tape::node& n) {
  t.accumulate(n.in[0], vlm::gelu_erf_backward(n.saved[0], t.grad(n.out)));
}
// GELU, exact erf form (transformers' "gelu"; the Qwen2.5-VL merger).
template <class Ctx, class T, class B>
tensor<T, B> gelu(Ctx& ctx, const tensor<T, B>& x) {
  auto y = vlm::gelu_erf(x);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x})) {
      auto& n = ctx.record(&gelu_backward_node<Ctx>);
      n.saved[0] = x;
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- embedding ---------------------------------------------------------------------------
template <class Tape, class I>
void embedding_backward_node(Tape& t, typename Tape::node& n) {
  auto ids = std::static_pointer_cast<const tensor<I, typename Tape::backend_type>>(n.extra);
  auto dw = detail::zeros_like(n.saved[0]);
  vlm::embedding_backward(t.grad(n.out), *ids, dw);
  t.accumulate(n.in[0], dw);
}
template <class Ctx, class T, class B, class I>
tensor<T, B> embedding(Ctx& ctx, const tensor<T, B>& weight, const tensor<I, B>& ids) {
  auto y = vlm::embedding(weight, ids);
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&weight})) {
      auto& n = ctx.record(&embedding_backward_node<Ctx, I>);
      n.saved[0] = weight;
      n.extra = std::make_shared<tensor<I, B>>(ids);
      n.in[0] = weight.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- cross-entropy -----------------------------------------------------------------------
template <class Tape>
void cross_entropy_backward_node(Tape& t, typename Tape::node& n) {
  auto labels = std::static_pointer_cast<const tensor<std::int64_t, typename Tape::backend_type>>(n.extra);
  float dloss = static_cast<float>(t.grad(n.out).item());
  t.accumulate(n.in[0], vlm::cross_entropy_backward(n.saved[0], *labels, n.f[0], dloss));
}
// Mean (or sum / divisor) token cross-entropy; returns a one-element tensor and the count.
template <class Ctx, class T, class B>
tensor<T, B> cross_entropy(Ctx& ctx, const tensor<T, B>& logits, const tensor<std::int64_t, B>& labels,
                           double divisor = -1, std::int64_t* count = nullptr) {
  auto r = vlm::cross_entropy(logits, labels, divisor);
  if (count) *count = r.count;
  auto y = tensor<T, B>::full({1}, convert<T>(static_cast<float>(r.loss)));
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&logits}) && r.count > 0) {
      auto& n = ctx.record(&cross_entropy_backward_node<Ctx>);
      n.saved[0] = logits;
      n.extra = std::make_shared<tensor<std::int64_t, B>>(labels);
      n.f[0] = static_cast<float>(divisor > 0 ? divisor : static_cast<double>(r.count));
      n.in[0] = logits.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

// ---- structure: narrow (split), gather_rows, scatter_rows --------------------------------
template <class Tape>
void narrow_backward(Tape& t, typename Tape::node& n) {
  auto dx = detail::zeros_like(n.saved[0]);
  auto part = dx.narrow(static_cast<int>(n.i[0]), n.i[1], n.i[2]);
  auto g = t.grad(n.out);
  copy_into(part, g.contiguous().view(part.shape()));
  t.accumulate(n.in[0], dx);
}
// Contiguous copy of x.narrow(dim, start, length), recorded (e.g. q/k/v out of a fused qkv).
template <class Ctx, class T, class B>
tensor<T, B> narrow(Ctx& ctx, const tensor<T, B>& x, int dim, std::int64_t start, std::int64_t length) {
  auto y = x.narrow(dim, start, length).clone();
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x})) {
      auto& n = ctx.record(&narrow_backward<Ctx>);
      n.saved[0] = tensor<T, B>::empty(x.shape());  // shape carrier only (no values needed)
      n.i = {x.shape().wrap(dim), start, length, 0};
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

namespace detail {
// out[m] = x[index[m]] over rows of width C (host loop; index on the host).
template <class T>
void gather_rows_into(T* out, const T* x, std::span<const std::int64_t> index, std::int64_t C) {
  for (std::size_t m = 0; m < index.size(); ++m)
    std::memcpy(out + static_cast<std::int64_t>(m) * C, x + index[m] * C, static_cast<std::size_t>(C) * sizeof(T));
}
}  // namespace detail

template <class Tape>
void gather_rows_backward(Tape& t, typename Tape::node& n) {
  auto idx = std::static_pointer_cast<const std::vector<std::int64_t>>(n.extra);
  auto dx = detail::zeros_like(n.saved[0]);
  auto g = t.grad(n.out).contiguous();
  const std::int64_t C = dx.size(-1);
  for (std::size_t m = 0; m < idx->size(); ++m)
    for (std::int64_t c = 0; c < C; ++c) {
      auto& d = dx.data()[(*idx)[m] * C + c];
      d = convert<typename Tape::value_type>(static_cast<float>(d) + static_cast<float>(g.data()[static_cast<std::int64_t>(m) * C + c]));
    }
  t.accumulate(n.in[0], dx);
}
// Rows of a 2-D tensor picked by index: out [M, C] = x[index] (permutations, window order).
template <class Ctx, class T>
tensor<T, cpu> gather_rows(Ctx& ctx, const tensor<T, cpu>& x, const std::vector<std::int64_t>& index) {
  VLM_CHECK_AS(shape_error, x.dim() == 2, "gather_rows needs [N, C], got ", x.shape().str());
  auto xc = x.contiguous();
  for (auto i : index) VLM_CHECK_AS(shape_error, i >= 0 && i < x.size(0), "gather_rows index ", i, " outside [0, ", x.size(0), ")");
  auto y = tensor<T, cpu>::empty({static_cast<std::int64_t>(index.size()), x.size(1)});
  detail::gather_rows_into(y.data(), xc.data(), index, x.size(1));
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&x})) {
      auto& n = ctx.record(&gather_rows_backward<Ctx>);
      n.saved[0] = tensor<T, cpu>::empty(x.shape());
      n.extra = std::make_shared<std::vector<std::int64_t>>(index);
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

template <class Tape>
void scatter_rows_backward(Tape& t, typename Tape::node& n) {
  auto idx = std::static_pointer_cast<const std::vector<std::int64_t>>(n.extra);
  auto g = t.grad(n.out).contiguous();
  const std::int64_t C = g.size(-1);
  if (n.in[0] >= 0) {  // base: gradient everywhere except the overwritten rows
    auto db = g.clone();
    for (auto r : *idx) std::memset(db.data() + r * C, 0, static_cast<std::size_t>(C) * sizeof(typename Tape::value_type));
    t.accumulate(n.in[0], db);
  }
  if (n.in[1] >= 0) {
    auto ds = tensor<typename Tape::value_type, cpu>::empty({static_cast<std::int64_t>(idx->size()), C});
    detail::gather_rows_into(ds.data(), g.data(), *idx, C);
    t.accumulate(n.in[1], ds);
  }
}
// out = base with out[index[m]] = src[m] (image features into the <|image_pad|> positions).
template <class Ctx, class T>
tensor<T, cpu> scatter_rows(Ctx& ctx, const tensor<T, cpu>& base, const std::vector<std::int64_t>& index,
                            const tensor<T, cpu>& src) {
  VLM_CHECK_AS(shape_error, base.dim() == 2 && src.dim() == 2 && src.size(1) == base.size(1) &&
                                src.size(0) == static_cast<std::int64_t>(index.size()),
               "scatter_rows: base ", base.shape().str(), ", ", index.size(), " rows, src ", src.shape().str());
  auto y = base.clone();
  auto sc = src.contiguous();
  const std::int64_t C = base.size(1);
  for (std::size_t m = 0; m < index.size(); ++m)
    std::memcpy(y.data() + index[m] * C, sc.data() + static_cast<std::int64_t>(m) * C, static_cast<std::size_t>(C) * sizeof(T));
  if constexpr (is_tape_v<Ctx>) {
    if (detail::recording(ctx, {&base, &src})) {
      auto& n = ctx.record(&scatter_rows_backward<Ctx>);
      n.extra = std::make_shared<std::vector<std::int64_t>>(index);
      n.in = {base.grad_slot, src.grad_slot, -1, -1};
      y.grad_slot = n.out = ctx.new_slot(y.shape());
    }
  }
  return y;
}

}  // namespace vlm::ag
