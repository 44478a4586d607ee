// CPU GEMM benchmark: vlm::linear (y = x w^T) on LLM-shaped products, with baselines measured
// in the same run (STYLE.md section 9):
//   - Eigen's own GEMM, C.noalias() = A * B.transpose(), on ONE thread: Eigen threads only
//     through OpenMP, which we do not build with, so "eigen1t x threads" is the ideal-scaling bar;
//   - the FMA peak, measured with a tight FMA loop on every pool thread (best time);
//   - STREAM-like read bandwidth (all pool threads, best time), the roofline for decode-shaped products:
//     a GEMV with an [N, K] weight reads 4NK bytes (f32) or 2NK (bf16).
// Products with M <= 4 rotate through enough weight copies to overflow the last-level cache,
// as decoding a real model does (each layer's weights come from DRAM); "_hot" cases repeat one
// weight, which then sits in cache.
// Output: a table on stderr, one JSON line per case on stdout (tools/compare_bench.py).
//   bench_gemm [--min-time SECONDS] [--filter SUBSTRING]
#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "harness.hpp"
#include "vlm/backends/cpu/gemm.hpp"

namespace {

using vlm::bench::json_line;
using vlm::bench::measure;
using vlm::bench::measure_options;
using vlm::bench::timing;

// ---- SIMD helpers for the peak and bandwidth kernels ------------------------------------
#if defined(__AVX512F__)
using vec = __m512;
constexpr int lanes = 16;
inline vec vset(float x) { return _mm512_set1_ps(x); }
inline vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX__) && defined(__FMA__)
using vec = __m256;
constexpr int lanes = 8;
inline vec vset(float x) { return _mm256_set1_ps(x); }
inline vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline vec vadd(vec a, vec b) { return _mm256_add_ps(a, b); }
inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(vec a) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
#else
using vec = float;  // no known SIMD: the "peak" is then a scalar peak
constexpr int lanes = 1;
inline vec vset(float x) { return x; }
inline vec vload(const float* p) { return *p; }
inline vec vadd(vec a, vec b) { return a + b; }
inline vec vfma(vec a, vec b, vec c) { return std::fma(a, b, c); }
inline float vsum(vec a) { return a; }
#endif

// 12 independent FMA chains: more than latency (4-5 cycles) x FMA ports (2) on current x86.
constexpr int fma_chains = 12;
float fma_loop(std::int64_t iters) {
  vec acc[fma_chains];
  for (int j = 0; j < fma_chains; ++j) acc[j] = vset(0.01f * static_cast<float>(j));
  const vec mul = vset(0.9999f), add = vset(1e-4f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < fma_chains; ++j) acc[j] = vfma(acc[j], mul, add);
  }
  vec s = acc[0];
  for (int j = 1; j < fma_chains; ++j) s = vadd(s, acc[j]);
  return vsum(s);
}

// Sum of n floats with 8 independent chains: a pure read stream.
float read_sum(const float* p, std::int64_t n) {
  vec acc[8];
  for (auto& a : acc) a = vset(0.f);
  std::int64_t i = 0;
  for (; i + 8 * lanes <= n; i += 8 * lanes)
    for (int j = 0; j < 8; ++j) acc[j] = vadd(acc[j], vload(p + i + j * lanes));
  float s = 0;
  for (int j = 0; j < 8; ++j) s += vsum(acc[j]);
  for (; i < n; ++i) s += p[i];
  return s;
}

// Last-level cache size in bytes from sysfs (0 if unknown).
std::int64_t llc_bytes() {
  std::int64_t best = 0;
  for (int idx = 0; idx < 8; ++idx) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/size");
    std::string s;
    if (!(f >> s)) continue;
    std::int64_t v = std::atoll(s.c_str());
    if (s.back() == 'K') v <<= 10;
    if (s.back() == 'M') v <<= 20;
    best = std::max(best, v);
  }
  return best;
}

struct options {
  double min_time = 0.5;
  std::string filter;
};

struct baselines {
  double peak_gflops = 0, peak_1t_gflops = 0;  // measured FMA peak, all threads / one thread
  double bw_gbps = 0, bw_1t_gbps = 0;          // measured read bandwidth
  std::int64_t rotate_bytes = 0;               // weight bytes cycled through by cold cases
};

baselines measure_baselines(const vlm::bench::machine_info& m, const options& opt) {
  baselines b;
  const int T = m.pool_threads;
  measure_options mo{opt.min_time, 5, 1000, 2};

  // FMA peak: one FMA loop per pool thread, all at once.
  const std::int64_t iters = 2'000'000;
  const double flops_per_loop = double(iters) * fma_chains * lanes * 2.0;
  std::vector<float> sink(static_cast<std::size_t>(T));
  auto all = measure([&] {
    vlm::cpu_detail::parallel_for(T, 1, [&](std::int64_t t0, std::int64_t t1) {
      for (auto t = t0; t < t1; ++t) sink[static_cast<std::size_t>(t)] = fma_loop(iters);
    });
  }, mo);
  auto one = measure([&] { sink[0] = fma_loop(iters); }, mo);
  vlm::bench::do_not_optimize(sink[0]);
  // Best times: a peak is the best seen. All threads can do at least what one can; on a shared
  // machine the all-thread loop often loses its second core, so take the larger.
  b.peak_1t_gflops = flops_per_loop / one.min_s * 1e-9;
  b.peak_gflops = std::max(flops_per_loop * T / all.min_s * 1e-9, b.peak_1t_gflops);
  json_line("fma_peak_all", m).set_time(all).set("gflops", b.peak_gflops).set("isa", m.isa).print();
  json_line("fma_peak_1t", m).set_time(one).set("gflops", b.peak_1t_gflops).set("isa", m.isa).print();

  // Read bandwidth over a buffer far larger than the last-level cache.
  const std::int64_t llc = llc_bytes();
  b.rotate_bytes = std::max<std::int64_t>(128 << 20, 4 * llc);
  const std::int64_t n = std::max<std::int64_t>(256 << 20, 8 * llc) / 4;
  std::vector<float> buf(static_cast<std::size_t>(n));
  vlm::cpu_detail::parallel_for(n, 1 << 16, [&](std::int64_t i0, std::int64_t i1) {  // first touch
    for (auto i = i0; i < i1; ++i) buf[static_cast<std::size_t>(i)] = 1e-6f * static_cast<float>(i % 1021);
  });
  auto bw_all = measure([&] {
    vlm::cpu_detail::parallel_for(T, 1, [&](std::int64_t t0, std::int64_t t1) {
      for (auto t = t0; t < t1; ++t) {
        std::int64_t i0 = n * t / T, i1 = n * (t + 1) / T;
        sink[static_cast<std::size_t>(t)] = read_sum(buf.data() + i0, i1 - i0);
      }
    });
  }, mo);
  auto bw_one = measure([&] { sink[0] = read_sum(buf.data(), n); }, mo);
  vlm::bench::do_not_optimize(sink[0]);
  // Best times again: the roofline is the most the memory system delivered.
  b.bw_1t_gbps = 4.0 * double(n) / bw_one.min_s * 1e-9;
  b.bw_gbps = std::max(4.0 * double(n) / bw_all.min_s * 1e-9, b.bw_1t_gbps);
  json_line("read_bw_all", m).set_time(bw_all).set("gbps", b.bw_gbps).set("bytes", 4 * n).print();
  json_line("read_bw_1t", m).set_time(bw_one).set("gbps", b.bw_1t_gbps).set("bytes", 4 * n).print();

  std::fprintf(stderr, "FMA peak (%s): %.1f GFLOP/s on %d threads, %.1f on one\n", m.isa.c_str(), b.peak_gflops, T,
               b.peak_1t_gflops);
  std::fprintf(stderr, "read bandwidth (%lld MiB buffer): %.1f GB/s on %d threads, %.1f on one; LLC %lld MiB\n\n",
               static_cast<long long>(4 * n >> 20), b.bw_gbps, T, b.bw_1t_gbps, static_cast<long long>(llc >> 20));
  return b;
}

void table_header() {
  std::fprintf(stderr, "%-30s %9s %9s %8s %7s %8s %9s %8s %7s\n", "case", "med ms", "min ms", "GFLOP/s", "GB/s",
               "/eigen1t", "/eigen1tT", "/peak", "/bw");
}

void table_row(const std::string& name, const timing& t, double gflops, double gbps, double r_eig, double r_eigT,
               double r_peak, double r_bw) {
  auto cell = [](double v, const char* fmt) {
    static thread_local char b[4][32];
    static thread_local int i = 0;
    char* s = b[i++ % 4];
    if (v > 0) std::snprintf(s, 32, fmt, v); else std::snprintf(s, 32, "-");
    return s;
  };
  std::fprintf(stderr, "%-30s %9.3f %9.3f %8.1f %7s %8s %9s %8.2f %7s\n", name.c_str(), t.median_s * 1e3,
               t.min_s * 1e3, gflops, cell(gbps, "%.1f"), cell(r_eig, "%.2f"), cell(r_eigT, "%.2f"), r_peak,
               cell(r_bw, "%.2f"));
}

struct shape3 {
  std::int64_t M, K, N;
  std::string str() const { return std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N); }
};

// Largest |y - ref| / sum_k |x_k w_k| over rows {0, M-1}, ref in double from the same (rounded)
// inputs. y may be rounded to T at the end; that rounding is taken off by `out_ulp`.
template <class T>
double check_error(const std::vector<float>& x, const std::vector<float>& w, const vlm::tensor<T, vlm::cpu>& y,
                   shape3 s, double out_ulp) {
  double worst = 0;
  for (std::int64_t m : {std::int64_t{0}, s.M - 1})
    for (std::int64_t n = 0; n < s.N; ++n) {
      double ref = 0, mag = 0;
      for (std::int64_t k = 0; k < s.K; ++k) {
        double p = double(x[m * s.K + k]) * double(w[n * s.K + k]);
        ref += p;
        mag += std::abs(p);
      }
      double got = static_cast<float>(y.data()[m * s.N + n]);
      double err = std::max(0.0, std::abs(got - ref) - out_ulp * std::abs(ref)) / std::max(mag, 1e-30);
      worst = std::max(worst, err);
    }
  return worst;
}

struct eigen_result {
  double gflops = 0;
  timing t;
};

// Eigen's GEMM (or GEMV when M == 1) on one thread, the same rotation of weight copies as ours.
eigen_result run_eigen(const std::vector<float>& x, const std::vector<float>& w, shape3 s, int copies,
                       const std::string& name, const vlm::bench::machine_info& m, const options& opt,
                       const baselines& b) {
  using rm = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const rm> A(x.data(), s.M, s.K);
  std::vector<rm> Bs(static_cast<std::size_t>(copies), Eigen::Map<const rm>(w.data(), s.N, s.K));
  rm C(s.M, s.N);
  int i = 0;
  auto t = measure([&] {
    C.noalias() = A * Bs[static_cast<std::size_t>(i++ % copies)].transpose();
    vlm::bench::do_not_optimize(C.data()[0]);
  }, {opt.min_time, 5, 1000, 2});
  eigen_result r{2.0 * s.M * s.N * s.K / t.median_s * 1e-9, t};
  double gbps = s.M <= 4 ? 4.0 * s.N * s.K / t.median_s * 1e-9 : 0;
  table_row(name, t, r.gflops, gbps, 0, 0, r.gflops / b.peak_gflops, copies > 1 && gbps > 0 ? gbps / b.bw_gbps : 0);
  json_line j(name, m);
  j.set("impl", "eigen").set("eigen_threads", Eigen::nbThreads()).set("M", s.M).set("K", s.K).set("N", s.N);
  j.set("dtype", "f32").set_time(t).set("gflops", r.gflops).set("ratio_peak", r.gflops / b.peak_gflops);
  if (gbps > 0) j.set("gbps", gbps);
  if (copies > 1 && gbps > 0) j.set("ratio_bw", gbps / b.bw_gbps);
  j.set("weight_copies", copies).print();
  return r;
}

template <class T>
bool run_ours(const std::vector<float>& x, const std::vector<float>& w, shape3 s, int copies, const char* dtype,
              const std::string& name, const eigen_result& eig, const vlm::bench::machine_info& m,
              const options& opt, const baselines& b) {
  using tensor = vlm::tensor<T, vlm::cpu>;
  std::vector<T> xt(x.size()), wt(w.size());
  for (std::size_t i = 0; i < x.size(); ++i) xt[i] = T(x[i]);
  for (std::size_t i = 0; i < w.size(); ++i) wt[i] = T(w[i]);
  tensor X = tensor::from_host({s.M, s.K}, xt);
  std::vector<tensor> Ws;
  for (int c = 0; c < copies; ++c) Ws.push_back(tensor::from_host({s.N, s.K}, wt));

  // Correctness first: within 1e-5 of a double reference (plus the final rounding to T).
  const double out_ulp = std::is_same_v<T, float> ? 0.0 : 1.0 / 256;  // bf16: 8 mantissa bits
  double err = check_error(x, w, vlm::linear(X, Ws[0]), s, out_ulp);
  bool ok = err <= 1e-5;
  if (!ok) std::fprintf(stderr, "CHECK FAILED %s: relative error %.3g > 1e-5\n", name.c_str(), err);

  int i = 0;
  auto t = measure([&] {
    auto y = vlm::linear(X, Ws[static_cast<std::size_t>(i++ % copies)]);
    vlm::bench::do_not_optimize(y.data()[0]);
  }, {opt.min_time, 5, 1000, 2});
  const double gflops = 2.0 * s.M * s.N * s.K / t.median_s * 1e-9;
  const double gbps = s.M <= 4 ? double(sizeof(T)) * s.N * s.K / t.median_s * 1e-9 : 0;
  const int T_ = m.pool_threads;
  const double r_eig = gflops / eig.gflops, r_eigT = gflops / (eig.gflops * T_), r_peak = gflops / b.peak_gflops;
  const double r_bw = copies > 1 && gbps > 0 ? gbps / b.bw_gbps : 0;
  table_row(name, t, gflops, gbps, r_eig, r_eigT, r_peak, r_bw);
  json_line j(name, m);
  j.set("impl", "vlm").set("M", s.M).set("K", s.K).set("N", s.N).set("dtype", dtype).set_time(t);
  j.set("gflops", gflops).set("ratio_eigen1t", r_eig).set("ratio_eigen1t_x_threads", r_eigT);
  j.set("ratio_peak", r_peak);
  if (gbps > 0) j.set("gbps", gbps);
  if (r_bw > 0) j.set("ratio_bw", r_bw);
  j.set("weight_copies", copies).set("max_rel_err", err).set("check", ok ? "ok" : "FAIL").print();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--min-time" && i + 1 < argc) opt.min_time = std::atof(argv[++i]);
    else if (a == "--filter" && i + 1 < argc) opt.filter = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--min-time SECONDS] [--filter SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  const auto m = vlm::bench::machine();
  std::fprintf(stderr, "cpu: %s (%s), %d hw threads, vlm pool %d threads, Eigen %d.%d.%d with %d thread(s)\n",
               m.cpu.c_str(), m.isa.c_str(), m.hw_threads, m.pool_threads, EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
               EIGEN_MINOR_VERSION, Eigen::nbThreads());
  std::fprintf(stderr, "commit %s, %s, %s\n", m.commit.c_str(), m.compiler.c_str(), m.date.c_str());
  const baselines b = measure_baselines(m, opt);

  const std::vector<shape3> shapes = {{1, 896, 4864}, {4, 896, 4864}, {256, 896, 4864}, {256, 2048, 11008}};
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  bool ok = true;
  table_header();
  for (const auto& s : shapes) {
    for (bool hot : {false, true}) {
      if (hot && s.M != 1) continue;
      const std::string base = s.str() + (hot ? "_hot" : "");
      if (!opt.filter.empty() && base.find(opt.filter) == std::string::npos) continue;
      std::vector<float> x(static_cast<std::size_t>(s.M * s.K)), w(static_cast<std::size_t>(s.N * s.K));
      for (auto& v : x) v = static_cast<float>(vlm::bf16(uni(rng)));  // exact in bf16 and f32 alike,
      for (auto& v : w) v = static_cast<float>(vlm::bf16(uni(rng)));  // so one reference serves both
      const std::int64_t wbytes = 4 * s.N * s.K;
      const int copies = (!hot && s.M <= 4) ? static_cast<int>((b.rotate_bytes + wbytes - 1) / wbytes) : 1;
      auto eig = run_eigen(x, w, s, copies, "eigen1t_f32_" + base, m, opt, b);
      ok &= run_ours<float>(x, w, s, copies, "f32", "linear_f32_" + base, eig, m, opt, b);
      const int copies16 = (!hot && s.M <= 4) ? static_cast<int>((b.rotate_bytes + wbytes / 2 - 1) / (wbytes / 2)) : 1;
      ok &= run_ours<vlm::bf16>(x, w, s, copies16, "bf16", "linear_bf16_" + base, eig, m, opt, b);
    }
  }
  std::fprintf(stderr,
               "\n/eigen1t: ours over Eigen on one thread (f32 weights); /eigen1tT: over Eigen x %d threads (ideal "
               "scaling); /peak: over the measured FMA peak; /bw: weight bytes per second over the measured read "
               "bandwidth (cold cases only).\n",
               m.pool_threads);
  return ok ? 0 : 1;
}
