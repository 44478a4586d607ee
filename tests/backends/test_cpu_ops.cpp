// Elementwise, reduction, softmax, normalisation, rotary, embedding and cross-entropy ops on
// the CPU against naive double references, in f32 and bf16, with awkward sizes (1, 17, 97,
// 129) and non-contiguous inputs; plus the properties the spec names (softmax rows sum to 1
// and ignore shifts, RoPE preserves norms and q.k depends only on the position difference).
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <vlm/backends/cpu.hpp>

#include "../common/random_tensor.hpp"
#include "../common/tolerance.hpp"

using vlm::bf16;
using vlm::tensor;
using namespace vlm_test;

namespace {

using vec = std::vector<double>;

// NumPy broadcasting of two logical (row-major) arrays.
vec ref_broadcast(const vec& a, const vlm::shape& sa, const vec& b, const vlm::shape& sb,
                  const std::function<double(double, double)>& f, vlm::shape* out_shape = nullptr) {
  const int r = std::max(sa.rank(), sb.rank());
  vlm::shape so;
  for (int i = 0; i < r; ++i) {
    std::int64_t da = i < r - sa.rank() ? 1 : sa[i - (r - sa.rank())];
    std::int64_t db = i < r - sb.rank() ? 1 : sb[i - (r - sb.rank())];
    so.push_back(std::max(da, db));
  }
  vec out(static_cast<std::size_t>(so.numel()));
  for (std::int64_t flat = 0; flat < so.numel(); ++flat) {
    std::int64_t rem = flat, ia = 0, ib = 0, ma = 1, mb = 1;
    for (int d = r - 1; d >= 0; --d) {
      std::int64_t idx = rem % so[d];
      rem /= so[d];
      const int dA = d - (r - sa.rank()), dB = d - (r - sb.rank());
      if (dA >= 0) { ia += (sa[dA] == 1 ? 0 : idx) * ma; ma *= sa[dA]; }
      if (dB >= 0) { ib += (sb[dB] == 1 ? 0 : idx) * mb; mb *= sb[dB]; }
    }
    out[static_cast<std::size_t>(flat)] = f(a[static_cast<std::size_t>(ia)], b[static_cast<std::size_t>(ib)]);
  }
  if (out_shape) *out_shape = so;
  return out;
}

vec map_ref(const vec& x, const std::function<double(double)>& f) {
  vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

double silu_d(double x) { return x / (1 + std::exp(-x)); }
double gelu_erf_d(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_d(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
double silu_grad_d(double x) {
  const double s = 1 / (1 + std::exp(-x));
  return s * (1 + x * (1 - s));
}
double gelu_erf_grad_d(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }
double gelu_tanh_grad_d(double x) {
  const double k = std::sqrt(2.0 / M_PI), u = k * (x + 0.044715 * x * x * x), t = std::tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

// Rows of the last dimension: R rows of C.
struct rows {
  std::int64_t R, C;
};
template <class T>
rows rows_of(const tensor<T>& t) { return {t.numel() / t.size(-1), t.size(-1)}; }

vec ref_softmax(const vec& x, rows s, bool log) {
  vec y(x.size());
  for (std::int64_t r = 0; r < s.R; ++r) {
    const double* p = x.data() + r * s.C;
    double m = -INFINITY;
    for (std::int64_t i = 0; i < s.C; ++i) m = std::max(m, p[i]);
    double z = 0;
    for (std::int64_t i = 0; i < s.C; ++i) z += std::exp(p[i] - m);
    for (std::int64_t i = 0; i < s.C; ++i)
      y[static_cast<std::size_t>(r * s.C + i)] = log ? p[i] - m - std::log(z) : (m == -INFINITY ? 0.0 : std::exp(p[i] - m) / z);
  }
  return y;
}

// Shapes with awkward sizes for row-wise ops: rows x C.
const std::vector<vlm::shape> row_shapes = {{1, 1}, {17, 1}, {1, 129}, {17, 97}, {3, 5, 129}, {2, 97}};

// Random input in one of three layouts (contiguous, transposed view, padded view).
template <class T>
tensor<T> in_layout(const tensor<T>& t, int variant) {
  if (t.dim() < 2) return variant % 2 ? padded_layout(t, 2) : t;
  return variant % 3 == 1 ? transposed_layout(t) : variant % 3 == 2 ? padded_layout(t, 3) : t;
}

}  // namespace

// ---- elementwise ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("add/sub/mul/div broadcast like NumPy", "[cpu][elementwise]", float, bf16) {
  using T = TestType;
  rng r(31);
  const std::vector<std::pair<vlm::shape, vlm::shape>> pairs = {
      {{17, 97}, {17, 97}}, {{17, 97}, {97}},     {{17, 1}, {1, 97}}, {{3, 1, 17}, {5, 1}},
      {{1}, {129}},         {{129, 300}, {129, 300}}, {{129, 300}, {300}}, {{2, 1, 129}, {1, 97, 1}},
  };
  int variant = 0;
  for (const auto& [sa, sb] : pairs) {
    INFO("a " << sa.str() << " b " << sb.str() << " variant " << variant);
    auto a = randn<T>(r, sa);
    // |b| in [0.5, 2] with a random sign keeps div well conditioned.
    auto bmag = uniform<T>(r, sb, 0.5, 2.0);
    auto bv = to_double(bmag);
    for (auto& x : bv) x = r.uniform(0, 1) < 0.5 ? -x : x;
    auto b = from_doubles<T>(sb, bv);
    auto av = in_layout(a, variant), bview = in_layout(b, variant + 1);
    ++variant;
    const auto ad = to_double(a);
    VLM_CHECK_CLOSE("add", vlm::add(av, bview), ref_broadcast(ad, sa, bv, sb, [](double x, double y) { return x + y; }));
    VLM_CHECK_CLOSE("sub", vlm::sub(av, bview), ref_broadcast(ad, sa, bv, sb, [](double x, double y) { return x - y; }));
    VLM_CHECK_CLOSE("mul", vlm::mul(av, bview), ref_broadcast(ad, sa, bv, sb, [](double x, double y) { return x * y; }));
    VLM_CHECK_CLOSE("div", vlm::div(av, bview), ref_broadcast(ad, sa, bv, sb, [](double x, double y) { return x / y; }));
    vlm::shape so;
    ref_broadcast(ad, sa, bv, sb, [](double x, double) { return x; }, &so);
    CHECK(vlm::add(av, bview).shape() == so);
  }
  CHECK_THROWS_AS(vlm::add(tensor<T>::zeros({3, 4}), tensor<T>::zeros({5})), vlm::shape_error);
}

TEMPLATE_TEST_CASE("add_ accumulates in place (with broadcast and alpha); scale", "[cpu][elementwise]", float, bf16) {
  using T = TestType;
  rng r(32);
  auto dst = randn<T>(r, {17, 97});
  auto src_full = randn<T>(r, {17, 97}), src_row = randn<T>(r, {97});
  auto want = to_double(dst);
  const auto sf = to_double(src_full), sr = to_double(src_row);
  for (std::size_t i = 0; i < want.size(); ++i) want[i] += sf[i] - 0.5 * sr[i % 97];
  vlm::add_(dst, transposed_layout(src_full));
  vlm::add_(dst, src_row, -0.5f);
  VLM_CHECK_CLOSE("add_", dst, want);
  auto view = dst.transpose(0, 1);
  auto src_t = randn<T>(r, {97, 17});
  CHECK_THROWS_AS(vlm::add_(view, src_t), vlm::shape_error);
  auto x = randn<T>(r, {129, 17});
  VLM_CHECK_CLOSE("scale", vlm::scale(transposed_layout(x), -1.75f), map_ref(to_double(x), [](double v) { return -1.75 * v; }));
}

TEST_CASE("cast rounds f32 to bf16 to nearest even and widens exactly", "[cpu][elementwise]") {
  rng r(33);
  auto x = randn<float>(r, {17, 129}, 10.0);
  auto xb = vlm::cast<bf16>(padded_layout(x));
  const auto xv = x.to_vector();
  const auto bv = xb.to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    // Reference rounding: the nearest bf16 (ties to even) from the two neighbours in double.
    const float f = xv[i];
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    const std::uint32_t lo_u = u & 0xffff0000u, hi_u = lo_u + 0x10000u;
    float lo, hi;
    std::memcpy(&lo, &lo_u, 4);
    std::memcpy(&hi, &hi_u, 4);
    const double dlo = std::fabs(double(f) - lo), dhi = std::fabs(double(hi) - f);
    const float want = dlo < dhi ? lo : dhi < dlo ? hi : ((lo_u >> 16) & 1u ? hi : lo);
    if (static_cast<float>(bv[i]) != want) {
      FAIL("cast<bf16>(" << f << ") = " << static_cast<float>(bv[i]) << ", want " << want << " at " << i);
    }
  }
  auto back = vlm::cast<float>(xb);
  for (std::size_t i = 0; i < bv.size(); ++i) REQUIRE(back.to_vector()[i] == static_cast<float>(bv[i]));
  auto ints = vlm::cast<std::int32_t>(tensor<float>::from_host({4}, {1.9f, -1.9f, 0.f, 7.f}));
  CHECK(ints.to_vector() == std::vector<std::int32_t>{1, -1, 0, 7});
}

TEMPLATE_TEST_CASE("silu, gelu_erf, gelu_tanh, silu_mul and their backwards", "[cpu][elementwise]", float, bf16) {
  using T = TestType;
  rng r(34);
  int variant = 0;
  for (vlm::shape s : {vlm::shape{1}, vlm::shape{17, 97}, vlm::shape{3, 129}, vlm::shape{129, 300}}) {
    INFO("shape " << s.str());
    auto x = randn<T>(r, s, 3.0), dy = randn<T>(r, s), up = randn<T>(r, s);
    auto xv = in_layout(x, variant++);
    const auto xd = to_double(x), gd = to_double(dy), ud = to_double(up);
    VLM_CHECK_CLOSE("silu", vlm::silu(xv), map_ref(xd, silu_d));
    VLM_CHECK_CLOSE("gelu_erf", vlm::gelu_erf(xv), map_ref(xd, gelu_erf_d));
    VLM_CHECK_CLOSE("gelu_tanh", vlm::gelu_tanh(xv), map_ref(xd, gelu_tanh_d));
    vec sm(xd.size()), dsilu(xd.size()), dgerf(xd.size()), dgtanh(xd.size()), dgate(xd.size()), dup(xd.size());
    for (std::size_t i = 0; i < xd.size(); ++i) {
      sm[i] = silu_d(xd[i]) * ud[i];
      dsilu[i] = gd[i] * silu_grad_d(xd[i]);
      dgerf[i] = gd[i] * gelu_erf_grad_d(xd[i]);
      dgtanh[i] = gd[i] * gelu_tanh_grad_d(xd[i]);
      dgate[i] = gd[i] * ud[i] * silu_grad_d(xd[i]);
      dup[i] = gd[i] * silu_d(xd[i]);
    }
    VLM_CHECK_CLOSE("silu_mul", vlm::silu_mul(xv, up), sm);
    VLM_CHECK_CLOSE("silu_backward", vlm::silu_backward(xv, dy), dsilu);
    VLM_CHECK_CLOSE("gelu_erf_backward", vlm::gelu_erf_backward(xv, dy), dgerf);
    VLM_CHECK_CLOSE("gelu_tanh_backward", vlm::gelu_tanh_backward(xv, dy), dgtanh);
    tensor<T> d_gate, d_up;
    vlm::silu_mul_backward(xv, up, dy, d_gate, d_up);
    VLM_CHECK_CLOSE("silu_mul d_gate", d_gate, dgate);
    VLM_CHECK_CLOSE("silu_mul d_up", d_up, dup);
  }
}

// ---- reductions ----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("sum_last, mean_last, max_last, sum_rows, sum_all", "[cpu][reduce]", float, bf16) {
  using T = TestType;
  rng r(35);
  int variant = 0;
  for (const auto& s : row_shapes) {
    INFO("shape " << s.str());
    auto x = randn<T>(r, s);
    auto xv = in_layout(x, variant++);
    const auto xd = to_double(x);
    const auto [R, C] = rows_of(x);
    vec sum(static_cast<std::size_t>(R), 0.0), mean(sum.size()), mx(sum.size(), -INFINITY), cols(static_cast<std::size_t>(C), 0.0);
    double all = 0;
    for (std::int64_t i = 0; i < R; ++i)
      for (std::int64_t c = 0; c < C; ++c) {
        const double v = xd[static_cast<std::size_t>(i * C + c)];
        sum[static_cast<std::size_t>(i)] += v;
        mx[static_cast<std::size_t>(i)] = std::max(mx[static_cast<std::size_t>(i)], v);
        cols[static_cast<std::size_t>(c)] += v;
        all += v;
      }
    for (std::size_t i = 0; i < sum.size(); ++i) mean[i] = sum[i] / static_cast<double>(C);
    auto got_sum = vlm::sum_last(xv);
    vlm::shape lead = x.shape();
    CHECK(got_sum.numel() == R);
    CHECK(got_sum.dim() == lead.rank() - 1);
    VLM_CHECK_CLOSE("sum_last", got_sum, sum);
    VLM_CHECK_CLOSE("mean_last", vlm::mean_last(xv), mean);
    VLM_CHECK_EXACT("max_last", vlm::max_last(xv), from_doubles<T>(got_sum.shape(), mx));
    VLM_CHECK_CLOSE("sum_rows", vlm::sum_rows(xv), cols);
    auto all_t = tensor<double>::from_host({1}, {vlm::sum_all(xv)});
    VLM_CHECK_CLOSE("sum_all", all_t, vec{all}, 1e-12);
  }
}

// ---- softmax ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("softmax, log_softmax and softmax_backward against double", "[cpu][softmax]", float, bf16) {
  using T = TestType;
  rng r(36);
  int variant = 0;
  for (const auto& s : row_shapes) {
    INFO("shape " << s.str());
    auto x = randn<T>(r, s, 3.0), dy = randn<T>(r, s);
    auto xv = in_layout(x, variant++);
    const auto rs = rows_of(x);
    const auto y_ref = ref_softmax(to_double(x), rs, false);
    auto y = vlm::softmax(xv);
    VLM_CHECK_CLOSE("softmax", y, y_ref);
    VLM_CHECK_CLOSE("log_softmax", vlm::log_softmax(xv), ref_softmax(to_double(x), rs, true));
    // Backward from the op's own y (the contract), against double arithmetic on the same y.
    const auto yd = to_double(y), gd = to_double(dy);
    vec dx(yd.size());
    for (std::int64_t i = 0; i < rs.R; ++i) {
      double dot = 0;
      for (std::int64_t c = 0; c < rs.C; ++c) dot += yd[static_cast<std::size_t>(i * rs.C + c)] * gd[static_cast<std::size_t>(i * rs.C + c)];
      for (std::int64_t c = 0; c < rs.C; ++c) {
        const auto k = static_cast<std::size_t>(i * rs.C + c);
        dx[k] = yd[k] * (gd[k] - dot);
      }
    }
    VLM_CHECK_CLOSE("softmax_backward", vlm::softmax_backward(in_layout(y, variant), dy), dx);
  }
}

TEST_CASE("softmax: rows sum to 1, masked entries get 0, fully masked rows are zeros", "[cpu][softmax][property]") {
  rng r(37);
  auto x = randn<float>(r, {17, 97}, 5.0);
  auto xv = x.to_vector();
  for (std::int64_t j = 0; j < 97; j += 3) xv[static_cast<std::size_t>(5 * 97 + j)] = -INFINITY;
  for (std::int64_t j = 0; j < 97; ++j) xv[static_cast<std::size_t>(9 * 97 + j)] = -INFINITY;
  auto y = vlm::softmax(tensor<float>::from_host({17, 97}, xv));
  auto sums = vlm::sum_last(y);
  for (std::int64_t i = 0; i < 17; ++i) {
    INFO("row " << i);
    if (i == 9) CHECK(sums.at({i}) == 0.f);
    else CHECK(std::fabs(sums.at({i}) - 1.f) <= 1e-5f);
  }
  for (std::int64_t j = 0; j < 97; j += 3) CHECK(y.at({5, j}) == 0.f);
  for (std::int64_t j = 0; j < 97; ++j) REQUIRE(y.at({9, j}) == 0.f);
}

TEST_CASE("softmax and log_softmax ignore a shift of the whole row", "[cpu][softmax][property]") {
  // Inputs on a 2^-10 grid: x + c is exact in f32 for |c| <= 4096, and so is (x + c) - max,
  // so a max-subtracting softmax gives bitwise the same row (and never overflows exp).
  rng r(38);
  vec xs(17 * 129);
  for (auto& v : xs) v = std::round(r.normal(0, 4) * 1024) / 1024;
  auto x = from_doubles<float>({17, 129}, xs);
  for (double c : {1.0, -64.0, 4096.0}) {
    INFO("shift " << c);
    vec shifted = xs;
    for (auto& v : shifted) v += c;
    auto xsft = from_doubles<float>({17, 129}, shifted);
    VLM_CHECK_EXACT("softmax", vlm::softmax(xsft), vlm::softmax(x));
    VLM_CHECK_EXACT("log_softmax", vlm::log_softmax(xsft), vlm::log_softmax(x));
  }
}

// ---- normalisation -------------------------------------------------------------------------

namespace {
struct norm_ref {
  vec y, dx, dw, db;
};
// rms (layer == false) or layer norm with their backwards; dw/db start at `acc0` (accumulate).
norm_ref ref_norm(bool layer, const vec& x, const vec& w, const vec* b, const vec& dy, rows s, double eps, double acc0) {
  norm_ref r;
  r.y.resize(x.size());
  r.dx.resize(x.size());
  r.dw.assign(static_cast<std::size_t>(s.C), acc0);
  r.db.assign(static_cast<std::size_t>(s.C), acc0);
  for (std::int64_t i = 0; i < s.R; ++i) {
    const double* p = x.data() + i * s.C;
    const double* g = dy.data() + i * s.C;
    double mean = 0, var = 0;
    if (layer) {
      for (std::int64_t c = 0; c < s.C; ++c) mean += p[c];
      mean /= static_cast<double>(s.C);
    }
    for (std::int64_t c = 0; c < s.C; ++c) var += (p[c] - mean) * (p[c] - mean);
    const double inv = 1 / std::sqrt(var / static_cast<double>(s.C) + eps);
    double mg = 0, mgn = 0;
    for (std::int64_t c = 0; c < s.C; ++c) {
      const auto k = static_cast<std::size_t>(c);
      const double n = (p[c] - mean) * inv, gw = g[c] * w[k];
      r.y[static_cast<std::size_t>(i * s.C + c)] = n * w[k] + (b ? (*b)[k] : 0.0);
      r.dw[k] += g[c] * n;
      r.db[k] += g[c];
      mg += gw;
      mgn += gw * n;
    }
    mg /= static_cast<double>(s.C);
    mgn /= static_cast<double>(s.C);
    for (std::int64_t c = 0; c < s.C; ++c) {
      const double n = (p[c] - mean) * inv, gw = g[c] * w[static_cast<std::size_t>(c)];
      r.dx[static_cast<std::size_t>(i * s.C + c)] = inv * (gw - (layer ? mg : 0.0) - n * mgn);
    }
  }
  return r;
}
}  // namespace

TEMPLATE_TEST_CASE("rms_norm and rms_norm_backward against double", "[cpu][norm]", float, bf16) {
  using T = TestType;
  rng r(39);
  int variant = 0;
  for (const auto& s : row_shapes) {
    INFO("shape " << s.str());
    const std::int64_t C = s[-1];
    auto x = randn<T>(r, s, 2.0, 0.5), dy = randn<T>(r, s), w = randn<T>(r, {C}, 0.5, 1.0);
    auto xv = in_layout(x, variant++);
    const auto ref = ref_norm(false, to_double(x), to_double(w), nullptr, to_double(dy), rows_of(x), 1e-6, 1.0);
    VLM_CHECK_CLOSE("rms_norm", vlm::rms_norm(xv, padded_layout(w), 1e-6f), ref.y);
    auto dw = tensor<T>::full({C}, vlm::convert<T>(1.f));  // accumulated into: starts at 1
    auto dx = vlm::rms_norm_backward(xv, w, 1e-6f, dy, &dw);
    // C == 1: dx = r g w eps / (x^2 + eps) is pure cancellation (~1e-7 of g w r); skip it.
    if (C > 1) VLM_CHECK_CLOSE("rms_norm dx", dx, ref.dx);
    VLM_CHECK_CLOSE("rms_norm dw (accumulated)", dw, ref.dw);
  }
}

TEST_CASE("bf16 rms_norm rounds the normalised value to bf16 before the weight (HF Qwen2RMSNorm)", "[cpu][norm]") {
  // HF: w * (x * rsqrt(mean(x^2) + eps)).to(bf16), then the product is rounded again.
  // Reference in double with both roundings, and without the first: the op must agree with the
  // first on (nearly) every element -- double vs f32 statistics may flip a rare tie -- and the
  // check must be able to tell the two apart (many elements differ between them).
  rng r(40);
  const std::int64_t R = 17, C = 129;
  auto x = randn<bf16>(r, {R, C}), w = randn<bf16>(r, {C}, 0.3, 1.0);
  auto y = vlm::rms_norm(x, w, 1e-6f).to_vector();
  const auto xd = to_double(x), wd = to_double(w);
  auto rb = [](double v) { return static_cast<double>(static_cast<float>(bf16(static_cast<float>(v)))); };
  int differ_hf = 0, differ_plain = 0;
  for (std::int64_t i = 0; i < R; ++i) {
    double ss = 0;
    for (std::int64_t c = 0; c < C; ++c) ss += xd[static_cast<std::size_t>(i * C + c)] * xd[static_cast<std::size_t>(i * C + c)];
    const double inv = 1 / std::sqrt(ss / C + 1e-6);
    for (std::int64_t c = 0; c < C; ++c) {
      const double n = xd[static_cast<std::size_t>(i * C + c)] * inv, wc = wd[static_cast<std::size_t>(c)];
      const double got = static_cast<float>(y[static_cast<std::size_t>(i * C + c)]);
      differ_hf += got != rb(wc * rb(n));
      differ_plain += rb(wc * n) != rb(wc * rb(n));
    }
  }
  INFO("elements differing from the HF rounding: " << differ_hf << "; HF vs single rounding: " << differ_plain);
  CHECK(differ_hf <= R * C / 200);
  CHECK(differ_plain >= R * C / 50);  // the check has power
}

TEMPLATE_TEST_CASE("layer_norm and layer_norm_backward against double", "[cpu][norm]", float, bf16) {
  using T = TestType;
  rng r(41);
  int variant = 0;
  for (const auto& s : row_shapes) {
    if (s[-1] == 1) continue;  // variance 0: y = b, dx = 0 -- covered below
    for (bool with_bias : {false, true}) {
      INFO("shape " << s.str() << " bias " << with_bias);
      const std::int64_t C = s[-1];
      auto x = randn<T>(r, s, 2.0, 0.5), dy = randn<T>(r, s), w = randn<T>(r, {C}, 0.5, 1.0), b = randn<T>(r, {C});
      auto xv = in_layout(x, variant++);
      const auto bd = to_double(b);
      const auto ref = ref_norm(true, to_double(x), to_double(w), with_bias ? &bd : nullptr, to_double(dy), rows_of(x), 1e-5, 0.5);
      VLM_CHECK_CLOSE("layer_norm", vlm::layer_norm(xv, w, with_bias ? b : tensor<T>{}, 1e-5f), ref.y);
      auto dw = tensor<T>::full({C}, vlm::convert<T>(0.5f)), db = tensor<T>::full({C}, vlm::convert<T>(0.5f));
      VLM_CHECK_CLOSE("layer_norm dx", vlm::layer_norm_backward(xv, w, 1e-5f, dy, &dw, &db), ref.dx);
      VLM_CHECK_CLOSE("layer_norm dw (accumulated)", dw, ref.dw);
      VLM_CHECK_CLOSE("layer_norm db (accumulated)", db, ref.db);
    }
  }
  auto one = vlm::layer_norm(tensor<T>::full({3, 1}, vlm::convert<T>(2.f)), tensor<T>::full({1}, vlm::convert<T>(3.f)),
                             tensor<T>::full({1}, vlm::convert<T>(0.25f)), 1e-5f);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(static_cast<float>(one.at({i, 0})) == 0.25f);
}

// ---- rotary ----------------------------------------------------------------------------------

namespace {
// NeoX tables for positions pos[n]: cos/sin [N, D], both halves equal (as transformers builds them).
std::pair<tensor<float>, tensor<float>> rope_tables(const std::vector<double>& pos, std::int64_t D, double theta = 10000) {
  const auto N = static_cast<std::int64_t>(pos.size());
  vec c(static_cast<std::size_t>(N * D)), s(c.size());
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < D / 2; ++i) {
      const double a = pos[static_cast<std::size_t>(n)] * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
      for (std::int64_t j : {i, i + D / 2}) {
        c[static_cast<std::size_t>(n * D + j)] = std::cos(a);
        s[static_cast<std::size_t>(n * D + j)] = std::sin(a);
      }
    }
  return {from_doubles<float>({N, D}, c), from_doubles<float>({N, D}, s)};
}
// y = x cos + rotate_half(x) sin with the f32 tables, in double.
vec ref_rotary(const vec& x, const vec& c, const vec& s, std::int64_t N, std::int64_t H, std::int64_t D) {
  vec y(x.size());
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < D; ++i) {
        const std::size_t k = static_cast<std::size_t>((n * H + h) * D + i), t = static_cast<std::size_t>(n * D + i);
        const double rot = i < D / 2 ? -x[k + static_cast<std::size_t>(D / 2)] : x[k - static_cast<std::size_t>(D / 2)];
        y[k] = x[k] * c[t] + rot * s[t];
      }
  return y;
}
}  // namespace

TEMPLATE_TEST_CASE("apply_rotary and its backward against double", "[cpu][rotary]", float, bf16) {
  using T = TestType;
  rng r(42);
  int variant = 0;
  for (std::int64_t D : {2, 16, 128})
    for (std::int64_t H : {1, 3}) {
      const std::int64_t N = 17;
      INFO("N=" << N << " H=" << H << " D=" << D);
      std::vector<double> pos(static_cast<std::size_t>(N));
      for (std::int64_t n = 0; n < N; ++n) pos[static_cast<std::size_t>(n)] = static_cast<double>(n * 7 % 23);
      auto [cos, sin] = rope_tables(pos, D);
      auto x = randn<T>(r, {N, H, D}), dy = randn<T>(r, {N, H, D});
      const auto cd = to_double(cos), sd = to_double(sin);
      auto xv = variant++ % 2 ? transposed_layout(x) : x;
      VLM_CHECK_CLOSE("rotary", vlm::apply_rotary(xv, cos, sin), ref_rotary(to_double(x), cd, sd, N, H, D));
      // backward = the transpose of the rotation = rotation by -angle.
      vec neg_s = sd;
      for (auto& v : neg_s) v = -v;
      VLM_CHECK_CLOSE("rotary backward", vlm::apply_rotary_backward(dy, cos, sin), ref_rotary(to_double(dy), cd, neg_s, N, H, D));
    }
  // [B, S, H, D] input with one table row per token.
  auto [cos, sin] = rope_tables({0, 1, 2, 3, 4, 5}, 8);
  auto x4 = randn<T>(r, {2, 3, 2, 8});
  VLM_CHECK_CLOSE("rotary 4-D", vlm::apply_rotary(x4, cos, sin), ref_rotary(to_double(x4), to_double(cos), to_double(sin), 6, 2, 8));
  CHECK_THROWS_AS(vlm::apply_rotary(x4, cos.narrow(0, 0, 5), sin.narrow(0, 0, 5)), vlm::shape_error);
}

TEST_CASE("rotary preserves norms, is undone by its backward, and q.k depends only on the position difference",
          "[cpu][rotary][property]") {
  rng r(43);
  const std::int64_t D = 64, H = 2;
  auto q = randn<float>(r, {1, H, D}), k = randn<float>(r, {1, H, D});
  auto dot = [&](const tensor<float>& a, const tensor<float>& b, std::int64_t h) {
    double s = 0;
    for (std::int64_t i = 0; i < D; ++i) s += double(a.at({0, h, i})) * double(b.at({0, h, i}));
    return s;
  };
  auto rot = [&](const tensor<float>& x, double p) {
    auto [c, s] = rope_tables({p}, D);
    return vlm::apply_rotary(x, c, s);
  };
  for (std::int64_t h = 0; h < H; ++h) {
    const double qq = dot(q, q, h), kk = dot(k, k, h), qk = std::sqrt(qq * kk);
    for (double p : {0.0, 1.0, 17.0, 129.0, 4096.0}) {
      auto qr = rot(q, p);
      INFO("head " << h << " position " << p);
      CHECK(std::fabs(dot(qr, qr, h) - qq) <= 1e-5 * qq);
      auto [c, s] = rope_tables({p}, D);
      auto back = vlm::apply_rotary_backward(qr, c, s);
      VLM_CHECK_CLOSE("backward(forward(x))", back, q);
    }
    // <R(m) q, R(n) k> for the same m - n.
    for (double delta : {0.0, 3.0, -5.0, 40.0}) {
      const double base = dot(rot(q, 10 + delta), rot(k, 10), h);
      for (double n : {0.0, 97.0, 500.0}) {
        INFO("head " << h << " delta " << delta << " n " << n);
        CHECK(std::fabs(dot(rot(q, n + delta), rot(k, n), h) - base) <= 1e-5 * qk);
      }
    }
  }
}

// ---- embedding -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("embedding gathers rows for int32 and int64 ids; backward accumulates repeats", "[cpu][embedding]",
                   float, bf16) {
  using T = TestType;
  rng r(44);
  const std::int64_t V = 97, C = 17;
  auto w = randn<T>(r, {V, C});
  const std::vector<std::int64_t> ids = {5, 0, 96, 5, 17, 5, 1, 96, 42, 3};
  auto ids64 = tensor<std::int64_t>::from_host({2, 5}, std::span<const std::int64_t>(ids));
  std::vector<std::int32_t> ids32v(ids.begin(), ids.end());
  auto ids32 = tensor<std::int32_t>::from_host({10}, std::span<const std::int32_t>(ids32v));
  const auto wd = to_double(w);
  vec want;
  for (auto id : ids)
    for (std::int64_t c = 0; c < C; ++c) want.push_back(wd[static_cast<std::size_t>(id * C + c)]);
  auto e64 = vlm::embedding(padded_layout(w), ids64);
  CHECK(e64.shape() == vlm::shape{2, 5, C});
  VLM_CHECK_EXACT("embedding int64", e64, from_doubles<T>({2, 5, C}, want));
  VLM_CHECK_EXACT("embedding int32", vlm::embedding(w, ids32), from_doubles<T>({10, C}, want));

  auto dy = randn<T>(r, {2, 5, C});
  const auto gd = to_double(dy);
  auto dw = tensor<T>::full({V, C}, vlm::convert<T>(0.5f));
  vec dw_want(static_cast<std::size_t>(V * C), 0.5);
  for (std::size_t n = 0; n < ids.size(); ++n)
    for (std::int64_t c = 0; c < C; ++c) dw_want[static_cast<std::size_t>(ids[n] * C + c)] += gd[n * C + static_cast<std::size_t>(c)];
  vlm::embedding_backward(dy, ids64, dw);
  VLM_CHECK_CLOSE("embedding_backward", dw, dw_want);

  auto bad = tensor<std::int64_t>::from_host({2}, {3, 97});
  CHECK_THROWS_WITH(vlm::embedding(w, bad), Catch::Contains("token id 97 at position 1"));
}

// ---- cross-entropy -----------------------------------------------------------------------

TEMPLATE_TEST_CASE("cross_entropy with ignore_index and divisor, and its backward", "[cpu][loss]", float, bf16) {
  using T = TestType;
  rng r(45);
  for (std::int64_t V : {1, 17, 129}) {
    const std::int64_t N = 17;
    INFO("V=" << V);
    auto logits = randn<T>(r, {N, V}, 3.0, V == 129 ? 1000.0 : 0.0);  // +1000: needs the max subtraction
    std::vector<std::int64_t> lab(static_cast<std::size_t>(N));
    for (std::int64_t n = 0; n < N; ++n) lab[static_cast<std::size_t>(n)] = n % 4 == 1 ? vlm::ignore_index : r.integer(0, V - 1);
    auto labels = tensor<std::int64_t>::from_host({N}, std::span<const std::int64_t>(lab));
    const auto ld = to_double(logits);
    double total = 0;
    std::int64_t count = 0;
    vec dl(ld.size(), 0.0);
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t y = lab[static_cast<std::size_t>(n)];
      if (y == vlm::ignore_index) continue;
      const double* p = ld.data() + n * V;
      double m = -INFINITY, z = 0;
      for (std::int64_t v = 0; v < V; ++v) m = std::max(m, p[v]);
      for (std::int64_t v = 0; v < V; ++v) z += std::exp(p[v] - m);
      total += m + std::log(z) - p[y];
      ++count;
      for (std::int64_t v = 0; v < V; ++v) dl[static_cast<std::size_t>(n * V + v)] = std::exp(p[v] - m) / z - (v == y);
    }
    for (double divisor : {-1.0, 7.5}) {
      INFO("divisor " << divisor);
      const double div = divisor > 0 ? divisor : static_cast<double>(count);
      auto res = vlm::cross_entropy(transposed_layout(logits), labels, divisor);
      CHECK(res.count == count);
      CHECK(std::fabs(res.loss - total / div) <= 1e-5 * std::fabs(total / div) + 1e-7);
      vec want(dl.size());
      for (std::size_t i = 0; i < dl.size(); ++i) want[i] = dl[i] * 0.5 / div;
      VLM_CHECK_CLOSE("cross_entropy_backward", vlm::cross_entropy_backward(logits, labels, div, 0.5f), want);
    }
  }
  auto logits = randn<T>(r, {3, 5});
  auto none = tensor<std::int64_t>::full({3}, vlm::ignore_index);
  auto res = vlm::cross_entropy(logits, none);
  CHECK(res.count == 0);
  CHECK(res.loss == 0.0);
  auto bad = tensor<std::int64_t>::from_host({3}, {0, 5, 1});
  CHECK_THROWS_WITH(vlm::cross_entropy(logits, bad), Catch::Contains("label 5 at row 1"));
  CHECK_THROWS_AS(vlm::cross_entropy(logits, tensor<std::int64_t>::zeros({4})), vlm::shape_error);
}
