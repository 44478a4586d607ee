// Finite-difference checks of every recorded op's backward (vlm::ag) and of the raw backward
// functions that no recorded op uses yet (wrapped in a recorded op here), through the one
// generic check_gradients in tests/common/gradcheck.hpp; plus the tape's bookkeeping:
// accumulation over backward calls, frozen parameters, clear(), no_grad.
#include <catch2/catch.hpp>
#include <cmath>
#include <vlm/autograd.hpp>

#include "../common/gradcheck.hpp"
#include "../common/random_tensor.hpp"
#include "../common/tolerance.hpp"

using vlm::tensor;
using namespace vlm_test;
namespace ag = vlm::ag;
using in_vec = std::vector<tensor<float>>;
using gi = grad_input;

namespace {

// NeoX rope tables for positions 0..N-1 (both halves equal).
std::pair<tensor<float>, tensor<float>> rope_tables(std::int64_t N, std::int64_t D) {
  std::vector<double> c(static_cast<std::size_t>(N * D)), s(c.size());
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < D / 2; ++i) {
      const double a = static_cast<double>(n) * std::pow(100.0, -2.0 * static_cast<double>(i) / static_cast<double>(D));
      for (std::int64_t j : {i, i + D / 2}) {
        c[static_cast<std::size_t>(n * D + j)] = std::cos(a);
        s[static_cast<std::size_t>(n * D + j)] = std::sin(a);
      }
    }
  return {from_doubles<float>({N, D}, c), from_doubles<float>({N, D}, s)};
}

// Recorded wrappers for raw backward functions that have no ag op of their own.
using tape_t = vlm::tape<float>;
using node_t = tape_t::node;

template <class Ctx>
tensor<float> rec_softmax(Ctx& t, const tensor<float>& x) {
  auto y = vlm::softmax(x);
  if constexpr (vlm::is_tape_v<Ctx>) {
    if (x.grad_slot >= 0) {
      auto& n = t.record(+[](tape_t& tp, node_t& nd) { tp.accumulate(nd.in[0], vlm::softmax_backward(nd.saved[0], tp.grad(nd.out))); });
      n.saved[0] = y;
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = t.new_slot(y.shape());
    }
  }
  return y;
}
template <class Ctx>
tensor<float> rec_unary(Ctx& t, const tensor<float>& x, bool tanh_gelu) {
  auto y = tanh_gelu ? vlm::gelu_tanh(x) : vlm::silu(x);
  if constexpr (vlm::is_tape_v<Ctx>) {
    if (x.grad_slot >= 0) {
      auto& n = t.record(tanh_gelu ? +[](tape_t& tp, node_t& nd) { tp.accumulate(nd.in[0], vlm::gelu_tanh_backward(nd.saved[0], tp.grad(nd.out))); }
                                   : +[](tape_t& tp, node_t& nd) { tp.accumulate(nd.in[0], vlm::silu_backward(nd.saved[0], tp.grad(nd.out))); });
      n.saved[0] = x;
      n.in[0] = x.grad_slot;
      y.grad_slot = n.out = t.new_slot(y.shape());
    }
  }
  return y;
}
template <class Ctx>
tensor<float> rec_layer_norm(Ctx& t, const tensor<float>& x, const tensor<float>& w, const tensor<float>& b, float eps) {
  auto y = vlm::layer_norm(x, w, b, eps);
  if constexpr (vlm::is_tape_v<Ctx>) {
    if (x.grad_slot >= 0 || w.grad_slot >= 0 || b.grad_slot >= 0) {
      auto& n = t.record(+[](tape_t& tp, node_t& nd) {
        auto dw = tensor<float>::zeros(nd.saved[1].shape()), db = tensor<float>::zeros(nd.saved[1].shape());
        auto dx = vlm::layer_norm_backward(nd.saved[0], nd.saved[1], nd.f[0], tp.grad(nd.out), &dw, &db);
        tp.accumulate(nd.in[0], dx);
        tp.accumulate(nd.in[1], dw);
        tp.accumulate(nd.in[2], db);
      });
      n.saved[0] = x;
      n.saved[1] = w;
      n.f[0] = eps;
      n.in = {x.grad_slot, w.grad_slot, b.grad_slot, -1};
      y.grad_slot = n.out = t.new_slot(y.shape());
    }
  }
  return y;
}

}  // namespace

TEST_CASE("gradcheck: linear (x, w, b) on the GEMV and GEMM paths, with and without bias", "[autograd][gradcheck]") {
  rng r(1);
  for (vlm::shape xs : {vlm::shape{3, 7}, vlm::shape{5, 7}, vlm::shape{2, 3, 7}}) {
    INFO("x " << xs.str());
    check_gradients("linear with bias", {{"x", randn<float>(r, xs)}, {"w", randn<float>(r, {4, 7}), gi::parameter}, {"b", randn<float>(r, {4}), gi::parameter}},
                    [](auto& ctx, const in_vec& in) { return ag::linear(ctx, in[0], in[1], in[2]); });
    check_gradients("linear without bias", {{"x", randn<float>(r, xs)}, {"w", randn<float>(r, {4, 7})}},
                    [](auto& ctx, const in_vec& in) { return ag::linear(ctx, in[0], in[1]); });
  }
  // Only the weight tracked (x constant), and only the bias tracked.
  check_gradients("linear, x constant", {{"x", randn<float>(r, {6, 5}), gi::constant}, {"w", randn<float>(r, {3, 5}), gi::parameter}},
                  [](auto& ctx, const in_vec& in) { return ag::linear(ctx, in[0], in[1]); });
  check_gradients("linear, bias only", {{"x", randn<float>(r, {6, 5}), gi::constant}, {"w", randn<float>(r, {3, 5}), gi::constant}, {"b", randn<float>(r, {3})}},
                  [](auto& ctx, const in_vec& in) { return ag::linear(ctx, in[0], in[1], in[2]); });
}

TEST_CASE("gradcheck: add, mul, scale (also with one input used twice)", "[autograd][gradcheck]") {
  rng r(2);
  check_gradients("add", {{"a", randn<float>(r, {4, 6})}, {"b", randn<float>(r, {4, 6})}},
                  [](auto& ctx, const in_vec& in) { return ag::add(ctx, in[0], in[1]); });
  check_gradients("mul", {{"a", randn<float>(r, {4, 6})}, {"b", randn<float>(r, {4, 6})}},
                  [](auto& ctx, const in_vec& in) { return ag::mul(ctx, in[0], in[1]); });
  check_gradients("scale", {{"a", randn<float>(r, {17})}}, [](auto& ctx, const in_vec& in) { return ag::scale(ctx, in[0], -1.5f); });
  check_gradients("x*x + x", {{"x", randn<float>(r, {3, 5})}},
                  [](auto& ctx, const in_vec& in) { return ag::add(ctx, ag::mul(ctx, in[0], in[0]), in[0]); });
  check_gradients("mul with a constant", {{"a", randn<float>(r, {4, 6})}, {"c", randn<float>(r, {4, 6}), gi::constant}},
                  [](auto& ctx, const in_vec& in) { return ag::mul(ctx, in[1], in[0]); });
}

TEST_CASE("gradcheck: rms_norm (x and w)", "[autograd][gradcheck]") {
  rng r(3);
  for (std::int64_t C : {2, 17}) {
    INFO("C=" << C);
    check_gradients("rms_norm", {{"x", randn<float>(r, {5, C}, 1.0, 0.3)}, {"w", randn<float>(r, {C}, 0.5, 1.0), gi::parameter}},
                    [](auto& ctx, const in_vec& in) { return ag::rms_norm(ctx, in[0], in[1], 1e-6f); });
  }
}

TEST_CASE("gradcheck: rotary", "[autograd][gradcheck]") {
  rng r(4);
  auto [cos, sin] = rope_tables(6, 8);
  check_gradients("rotary [N, H, D]", {{"x", randn<float>(r, {6, 3, 8})}},
                  [&](auto& ctx, const in_vec& in) { return ag::rotary(ctx, in[0], cos, sin); });
  check_gradients("rotary [B, S, H, D]", {{"x", randn<float>(r, {2, 3, 2, 8})}},
                  [&](auto& ctx, const in_vec& in) { return ag::rotary(ctx, in[0], cos, sin); });
}

TEST_CASE("gradcheck: attention (q, k, v) causal, q_offset, segments, GQA, padding", "[autograd][gradcheck]") {
  rng r(5);
  struct c_t {
    const char* name;
    std::int64_t B, Sq, Sk, H, Hkv, D;
    bool causal;
    std::int64_t q_offset;
    std::vector<std::int32_t> cu;
    std::vector<std::uint8_t> valid;
  };
  const std::vector<c_t> cases = {
      {"plain", 1, 5, 5, 2, 2, 4, false, 0, {}, {}},
      {"causal", 1, 7, 7, 2, 2, 4, true, 0, {}, {}},
      {"causal q_offset", 2, 3, 6, 2, 2, 4, true, 3, {}, {}},
      {"segments", 1, 7, 7, 2, 2, 4, false, 0, {0, 3, 7}, {}},
      {"causal segments", 1, 7, 7, 2, 1, 4, true, 0, {0, 2, 2, 7}, {}},
      {"GQA H=4 Hkv=2 causal", 1, 6, 6, 4, 2, 4, true, 0, {}, {}},
      {"padding", 2, 5, 5, 2, 2, 4, false, 0, {}, {1, 1, 0, 1, 1, 1, 1, 1, 0, 0}},
      {"padding, a batch with no keys", 2, 3, 3, 2, 1, 4, false, 0, {}, {1, 0, 1, 0, 0, 0}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    vlm::attention_mask m;
    m.causal = c.causal;
    m.q_offset = c.q_offset;
    m.cu_seqlens = c.cu;
    if (!c.valid.empty()) m.key_valid = tensor<std::uint8_t>::from_host({c.B, c.Sk}, std::span<const std::uint8_t>(c.valid));
    check_gradients(c.name,
                    {{"q", randn<float>(r, {c.B, c.Sq, c.H, c.D})},
                     {"k", randn<float>(r, {c.B, c.Sk, c.Hkv, c.D})},
                     {"v", randn<float>(r, {c.B, c.Sk, c.Hkv, c.D})}},
                    [&](auto& ctx, const in_vec& in) { return ag::attention(ctx, in[0], in[1], in[2], m, 0.7f); });
  }
}

TEST_CASE("gradcheck: silu_mul and gelu", "[autograd][gradcheck]") {
  rng r(6);
  check_gradients("silu_mul", {{"gate", randn<float>(r, {4, 9}, 2.0)}, {"up", randn<float>(r, {4, 9})}},
                  [](auto& ctx, const in_vec& in) { return ag::silu_mul(ctx, in[0], in[1]); });
  check_gradients("gelu (erf)", {{"x", randn<float>(r, {5, 13}, 2.0)}}, [](auto& ctx, const in_vec& in) { return ag::gelu(ctx, in[0]); });
}

TEST_CASE("gradcheck: embedding (repeated ids accumulate)", "[autograd][gradcheck]") {
  rng r(7);
  const std::vector<std::int64_t> ids = {3, 0, 3, 10, 3, 7, 0};
  auto id_t = tensor<std::int64_t>::from_host({7}, std::span<const std::int64_t>(ids));
  auto grads = check_gradients("embedding", {{"weight", randn<float>(r, {11, 5}), gi::parameter}},
                               [&](auto& ctx, const in_vec& in) { return ag::embedding(ctx, in[0], id_t); });
  // Unused rows get exactly zero; row 3 (three uses) is not zero.
  for (std::int64_t c = 0; c < 5; ++c) {
    CHECK(grads[0].at({1, c}) == 0.f);
    CHECK(grads[0].at({9, c}) == 0.f);
    CHECK(grads[0].at({3, c}) != 0.f);
  }
  auto ids32 = tensor<std::int32_t>::from_host({4}, {1, 1, 2, 1});
  check_gradients("embedding int32 ids", {{"weight", randn<float>(r, {4, 3})}},
                  [&](auto& ctx, const in_vec& in) { return ag::embedding(ctx, in[0], ids32); });
}

TEST_CASE("gradcheck: cross_entropy with ignored labels and a divisor", "[autograd][gradcheck]") {
  rng r(8);
  auto labels = tensor<std::int64_t>::from_host({6}, {2, vlm::ignore_index, 0, 8, vlm::ignore_index, 5});
  for (double divisor : {-1.0, 10.0}) {
    INFO("divisor " << divisor);
    std::int64_t count = -1;
    auto grads = check_gradients("cross_entropy", {{"logits", randn<float>(r, {6, 9}, 2.0)}},
                                 [&](auto& ctx, const in_vec& in) { return ag::cross_entropy(ctx, in[0], labels, divisor, &count); });
    CHECK(count == 4);
    for (std::int64_t v = 0; v < 9; ++v) {  // ignored rows get no gradient
      CHECK(grads[0].at({1, v}) == 0.f);
      CHECK(grads[0].at({4, v}) == 0.f);
    }
  }
  // Every label ignored: the loss is 0 and nothing is recorded.
  vlm::tape<float> t;
  auto x = t.watch(randn<float>(r, {2, 3}));
  auto none = tensor<std::int64_t>::full({2}, vlm::ignore_index);
  auto l = ag::cross_entropy(t, x, none);
  CHECK(l.item() == 0.f);
  CHECK(l.grad_slot < 0);
  CHECK(t.size() == 0);
}

TEST_CASE("gradcheck: narrow, gather_rows, scatter_rows", "[autograd][gradcheck]") {
  rng r(9);
  check_gradients("two narrows of one input, added", {{"x", randn<float>(r, {5, 12})}}, [](auto& ctx, const in_vec& in) {
    return ag::add(ctx, ag::narrow(ctx, in[0], 1, 0, 4), ag::narrow(ctx, in[0], -1, 8, 4));
  });
  check_gradients("narrow dim 0", {{"x", randn<float>(r, {6, 3, 4})}},
                  [](auto& ctx, const in_vec& in) { return ag::narrow(ctx, in[0], 0, 2, 3); });
  check_gradients("narrow middle dim", {{"x", randn<float>(r, {2, 6, 4})}},
                  [](auto& ctx, const in_vec& in) { return ag::narrow(ctx, in[0], 1, 1, 4); });
  const std::vector<std::int64_t> gidx = {2, 0, 2, 5, 2};
  auto g = check_gradients("gather_rows (repeats accumulate)", {{"x", randn<float>(r, {6, 5})}},
                           [&](auto& ctx, const in_vec& in) { return ag::gather_rows(ctx, in[0], gidx); });
  for (std::int64_t c = 0; c < 5; ++c) CHECK(g[0].at({4, c}) == 0.f);  // row 4 is never read
  const std::vector<std::int64_t> sidx = {1, 4, 6};
  auto s = check_gradients("scatter_rows", {{"base", randn<float>(r, {7, 5})}, {"src", randn<float>(r, {3, 5})}},
                           [&](auto& ctx, const in_vec& in) { return ag::scatter_rows(ctx, in[0], sidx, in[1]); });
  for (std::int64_t c = 0; c < 5; ++c) CHECK(s[0].at({4, c}) == 0.f);  // overwritten rows of base
}

TEST_CASE("gradcheck: raw backwards softmax_backward, layer_norm_backward, silu_backward, gelu_tanh_backward",
          "[autograd][gradcheck]") {
  rng r(10);
  check_gradients("softmax", {{"x", randn<float>(r, {4, 9}, 2.0)}}, [](auto& ctx, const in_vec& in) { return rec_softmax(ctx, in[0]); });
  check_gradients("silu", {{"x", randn<float>(r, {3, 11}, 3.0)}}, [](auto& ctx, const in_vec& in) { return rec_unary(ctx, in[0], false); });
  check_gradients("gelu_tanh", {{"x", randn<float>(r, {3, 11}, 3.0)}}, [](auto& ctx, const in_vec& in) { return rec_unary(ctx, in[0], true); });
  for (std::int64_t C : {3, 13}) {  // C = 2 is degenerate: n = +-1 whatever x, dx ~ eps
    INFO("C=" << C);
    check_gradients("layer_norm", {{"x", randn<float>(r, {4, C}, 1.0, 0.5)}, {"w", randn<float>(r, {C}, 0.5, 1.0)}, {"b", randn<float>(r, {C})}},
                    [](auto& ctx, const in_vec& in) { return rec_layer_norm(ctx, in[0], in[1], in[2], 1e-5f); });
  }
}

namespace {
// A small pre-norm decoder block with an LM head and the loss: every recorded op composed.
//   x [S, C] -> rms_norm -> qkv linear -> narrow q/k/v -> rotary -> attention (GQA, causal)
//   -> o linear -> + x -> rms_norm -> silu_mul(gate, up) -> down -> + -> gelu -> lm head -> CE
struct block_case {
  static constexpr std::int64_t S = 5, C = 8, H = 2, Hkv = 1, D = 4, F = 6, V = 7;
  tensor<float> cos, sin;
  tensor<std::int64_t> labels = tensor<std::int64_t>::from_host({S}, {3, 0, vlm::ignore_index, 6, 1});
  block_case() { std::tie(cos, sin) = rope_tables(S, D); }
  template <class Ctx>
  tensor<float> loss(Ctx& ctx, const in_vec& p) const {
    const auto &x = p[0], &n1 = p[1], &wqkv = p[2], &bqkv = p[3], &wo = p[4], &n2 = p[5], &wg = p[6], &wu = p[7], &wd = p[8], &lm = p[9];
    auto h = ag::rms_norm(ctx, x, n1, 1e-6f);
    auto qkv = ag::linear(ctx, h, wqkv, bqkv);  // [S, (H + 2 Hkv) D]
    auto q = ag::narrow(ctx, qkv, 1, 0, H * D).view({1, S, H, D});
    auto k = ag::narrow(ctx, qkv, 1, H * D, Hkv * D).view({1, S, Hkv, D});
    auto v = ag::narrow(ctx, qkv, 1, (H + Hkv) * D, Hkv * D).view({1, S, Hkv, D});
    q = ag::rotary(ctx, q, cos, sin);
    k = ag::rotary(ctx, k, cos, sin);
    vlm::attention_mask m;
    m.causal = true;
    auto a = ag::attention(ctx, q, k, v, m, 0.5f).view({S, H * D});
    auto x2 = ag::add(ctx, x, ag::linear(ctx, a, wo));
    auto h2 = ag::rms_norm(ctx, x2, n2, 1e-6f);
    auto mlp = ag::linear(ctx, ag::silu_mul(ctx, ag::linear(ctx, h2, wg), ag::linear(ctx, h2, wu)), wd);
    auto x3 = ag::gelu(ctx, ag::add(ctx, x2, mlp));
    return ag::cross_entropy(ctx, ag::linear(ctx, x3, lm), labels);
  }
  std::vector<grad_input> inputs(rng& r) const {
    return {{"x", randn<float>(r, {S, C})},
            {"norm1.weight", randn<float>(r, {C}, 0.2, 1.0), gi::parameter},
            {"qkv.weight", randn<float>(r, {(H + 2 * Hkv) * D, C}, 0.4), gi::parameter},
            {"qkv.bias", randn<float>(r, {(H + 2 * Hkv) * D}, 0.2), gi::parameter},
            {"o.weight", randn<float>(r, {C, H * D}, 0.4), gi::parameter},
            {"norm2.weight", randn<float>(r, {C}, 0.2, 1.0), gi::parameter},
            {"gate.weight", randn<float>(r, {F, C}, 0.4), gi::parameter},
            {"up.weight", randn<float>(r, {F, C}, 0.4), gi::parameter},
            {"down.weight", randn<float>(r, {C, F}, 0.4), gi::parameter},
            {"lm_head.weight", randn<float>(r, {V, C}, 0.5), gi::parameter}};
  }
};
}  // namespace

TEST_CASE("gradcheck: a decoder block composed of every recorded op", "[autograd][gradcheck]") {
  rng r(11);
  block_case blk;
  check_gradients("decoder block", blk.inputs(r), [&](auto& ctx, const in_vec& in) { return blk.loss(ctx, in); });
}

// ---- tape bookkeeping --------------------------------------------------------------------

namespace {
struct param_set {
  std::vector<vlm::parameter<float>> p;
  explicit param_set(const std::vector<grad_input>& in) {
    for (const auto& i : in) p.emplace_back(i.value.clone(), true);
  }
  template <class Ctx>
  in_vec use(Ctx& ctx) const {
    in_vec v;
    for (const auto& x : p) v.push_back(ag::use(ctx, x));
    return v;
  }
  std::vector<tensor<float>> grads() const {
    std::vector<tensor<float>> g;
    for (const auto& x : p) g.push_back(x.grad.defined() ? x.grad.clone() : tensor<float>{});
    return g;
  }
};
}  // namespace

TEST_CASE("parameter gradients accumulate over backward calls; clear() then a new step repeats them",
          "[autograd][tape]") {
  rng r(12);
  block_case blk;
  param_set ps(blk.inputs(r));
  vlm::tape<float> t;
  t.backward(blk.loss(t, ps.use(t)));
  const auto g1 = ps.grads();
  for (const auto& g : g1) REQUIRE(g.defined());

  SECTION("a second step after clear() doubles them") {
    t.clear();
    t.backward(blk.loss(t, ps.use(t)));
    const auto g2 = ps.grads();
    for (std::size_t i = 0; i < g1.size(); ++i) VLM_CHECK_CLOSE("2 x grad", g2[i], vlm::scale(g1[i], 2.f));
  }
  SECTION("a second backward on the same tape doubles them") {
    for (auto& p : ps.p) p.zero_grad();
    t.clear();
    auto l1 = blk.loss(t, ps.use(t));
    t.backward(l1);
    t.backward(l1);
    const auto g2 = ps.grads();
    for (std::size_t i = 0; i < g1.size(); ++i) VLM_CHECK_CLOSE("2 x grad (same tape)", g2[i], vlm::scale(g1[i], 2.f));
  }
  SECTION("zero_grad, clear() and the same step give exactly the same gradients") {
    for (auto& p : ps.p) p.zero_grad();
    t.clear();
    CHECK(t.size() == 0);
    t.backward(blk.loss(t, ps.use(t)));
    const auto g2 = ps.grads();
    for (std::size_t i = 0; i < g1.size(); ++i) VLM_CHECK_EXACT("repeat step", g2[i], g1[i]);
  }
}

TEST_CASE("watched inputs accumulate over two backward calls like parameters", "[autograd][tape]") {
  rng r(13);
  auto x0 = randn<float>(r, {3, 4});
  auto w0 = randn<float>(r, {2, 4});
  vlm::tape<float> t;
  auto x = t.watch(x0);
  vlm::parameter<float> w(w0.clone());
  auto y = ag::linear(t, ag::silu_mul(t, x, x), ag::use(t, w));
  auto loss = ag::linear(t, y.view({1, 6}), randn<float>(r, {1, 6}));
  t.backward(loss);
  auto gx1 = t.grad(x).clone(), gw1 = w.grad.clone();
  t.backward(loss);
  VLM_CHECK_CLOSE("x grad after two backward calls", t.grad(x), vlm::scale(gx1, 2.f));
  VLM_CHECK_CLOSE("w grad after two backward calls", w.grad, vlm::scale(gw1, 2.f));
}

TEST_CASE("frozen parameters get no gradient buffer and record nothing", "[autograd][tape]") {
  rng r(14);
  vlm::parameter<float> w(randn<float>(r, {3, 4}), false), b(randn<float>(r, {3}), true);
  vlm::tape<float> t;
  auto x = randn<float>(r, {2, 4});
  auto y = ag::linear(t, x, ag::use(t, w));  // untracked input, frozen weight
  CHECK(y.grad_slot < 0);
  CHECK(t.size() == 0);
  CHECK_THROWS_WITH(t.backward(ag::linear(t, y.view({1, 6}), randn<float>(r, {1, 6}))), Catch::Contains("not computed on this tape"));
  auto y2 = ag::linear(t, x, ag::use(t, w), ag::use(t, b));  // only the bias trains
  CHECK(t.size() == 1);
  t.backward(ag::linear(t, y2.view({1, 6}), tensor<float>::full({1, 6}, 1.f)));
  CHECK_FALSE(w.grad.defined());
  REQUIRE(b.grad.defined());
  VLM_CHECK_CLOSE("db = column sums of ones", b.grad, std::vector<double>{2, 2, 2});
  b.freeze();
  CHECK_FALSE(b.grad.defined());
  CHECK(ag::use(t, b).grad_slot < 0);
}

TEST_CASE("no_grad gives the same forward values as the tape and records nothing", "[autograd][tape]") {
  rng r(15);
  block_case blk;
  param_set ps(blk.inputs(r));
  vlm::no_grad ng;
  vlm::tape<float> t;
  auto l_ng = blk.loss(ng, ps.use(ng));
  CHECK(l_ng.grad_slot < 0);
  auto l_t = blk.loss(t, ps.use(t));
  CHECK(t.size() > 10);
  VLM_CHECK_EXACT("loss", l_ng, l_t);
  // The tape with every parameter frozen records nothing and computes the same.
  for (auto& p : ps.p) p.requires_grad = false;
  vlm::tape<float> t2;
  auto l_frozen = blk.loss(t2, ps.use(t2));
  CHECK(t2.size() == 0);
  VLM_CHECK_EXACT("loss, all frozen", l_frozen, l_t);
}

TEST_CASE("backward rejects a loss with more than one element", "[autograd][tape]") {
  vlm::tape<float> t;
  auto x = t.watch(tensor<float>::full({2}, 1.f));
  auto y = ag::scale(t, x, 2.f);
  CHECK_THROWS_AS(t.backward(y), vlm::shape_error);
}
