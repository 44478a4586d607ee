// CUDA benchmarks (STYLE.md section 9): cuBLAS GEMM through vlm::gemm_into for LLM-shaped
// products, and the handwritten rms_norm / softmax kernels. One JSON line per case.
//   GEMM y[M, N] = x[M, K] w[N, K]^T (the layout of linear), bf16 and f32 (f32 compute, no TF32):
//     1x896x4864 (decode, Qwen2.5-0.5B MLP), 256x896x4864, 256x2048x11008 (3B MLP), 4096^3
//   Ratios: TFLOP/s against the card's dense peak (a small table by device name; null when the
//   card is not in it) and GB/s against the memory-bandwidth roofline from the device's memory
//   clock and bus width (the bound that matters for the 1-row product and the kernels).
// Timing: CUDA events around each launch, L2 flushed (a memset of 2x its size) before each
// repeat, median and min of the repeats. Every result is checked against the CPU first.
// Usage: bench_gemm_cuda [--quick]   (--quick: fewer repeats)
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"
#include "vlm/backends/cpu.hpp"
#include "vlm/backends/cuda.hpp"

namespace {

using vlm::bf16;
using vlm::cpu;
using vlm::cuda;
using vlm::tensor;

struct device_info {
  std::string name;
  int sms = 0;
  double l2_bytes = 0;
  double peak_gbps = 0;        // 2 (DDR) x memory clock x bus width
  double peak_bf16_tflops = 0;  // dense, 0 = unknown
  double peak_f32_tflops = 0;   // plain FMA (no TF32), 0 = unknown
};

device_info query_device() {
  device_info d;
  int dev = 0;
  VLM_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  VLM_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  d.name = p.name;
  d.sms = p.multiProcessorCount;
  d.l2_bytes = p.l2CacheSize;
  int mem_khz = 0, bus_bits = 0;
  VLM_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  VLM_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  d.peak_gbps = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  // Datasheet dense peaks (TFLOP/s). Order matters: the more specific names first.
  struct row {
    const char* key;
    double bf16, f32;
  };
  const row table[] = {{"H200", 989.4, 66.9}, {"H100 PCIe", 756.0, 51.2}, {"H100 NVL", 835.0, 60.0},
                       {"H100", 989.4, 66.9},  {"A100", 312.0, 19.5},      {"L40S", 362.0, 91.6}};
  for (const auto& r : table)
    if (d.name.find(r.key) != std::string::npos) {
      d.peak_bf16_tflops = r.bf16;
      d.peak_f32_tflops = r.f32;
      break;
    }
  return d;
}

// Times launch() with CUDA events; the L2 is flushed before every repeat (outside the timing).
struct gpu_timer {
  tensor<std::uint8_t, cuda> flush;
  int reps;
  explicit gpu_timer(const device_info& d, bool quick)
      : flush(tensor<std::uint8_t, cuda>::empty({static_cast<std::int64_t>(2 * std::max(d.l2_bytes, 1e6))})),
        reps(quick ? 10 : 50) {}
  template <class F>
  vlm::bench::timing time(F&& launch) {
    cudaEvent_t a, b;
    VLM_CUDA_CHECK(cudaEventCreate(&a));
    VLM_CUDA_CHECK(cudaEventCreate(&b));
    for (int i = 0; i < 3; ++i) launch();  // warm-up (cuBLAS heuristics, clocks)
    std::vector<double> t;
    double total = 0;
    for (int i = 0; i < 1000 && (i < reps || total < 0.2); ++i) {
      VLM_CUDA_CHECK(cudaMemsetAsync(flush.data(), i & 0xff, static_cast<std::size_t>(flush.numel()), 0));
      VLM_CUDA_CHECK(cudaEventRecord(a, 0));
      launch();
      VLM_CUDA_CHECK(cudaEventRecord(b, 0));
      VLM_CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      VLM_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      t.push_back(ms * 1e-3);
      total += ms * 1e-3;
    }
    VLM_CUDA_CHECK(cudaEventDestroy(a));
    VLM_CUDA_CHECK(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    vlm::bench::timing r;
    r.reps = static_cast<int>(t.size());
    r.median_s = t[t.size() / 2];
    r.min_s = t.front();
    return r;
  }
};

template <class T>
tensor<T, cpu> rand_host(const vlm::shape& s, std::uint32_t seed) {
  std::vector<T> v(static_cast<std::size_t>(s.numel()));
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = vlm::convert<T>(static_cast<float>(x >> 8) / 16777216.f * 2.f - 1.f);
  }
  return tensor<T, cpu>::from_host(s, std::span<const T>(v));
}

// Worst |got - want| / (|want| + 0.1 max|want|) over the rows checked.
template <class T>
double rel_error(const std::vector<T>& got, const std::vector<T>& want) {
  double mx = 0, worst = 0;
  for (const T& w : want) mx = std::max(mx, std::abs(static_cast<double>(static_cast<float>(w))));
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<float>(got[i]), w = static_cast<float>(want[i]);
    worst = std::max(worst, std::abs(g - w) / (std::abs(w) + 0.1 * mx + 1e-30));
  }
  return worst;
}

template <class T>
const char* dtype_str() {
  return std::is_same_v<T, float> ? "f32" : "bf16";
}

template <class T>
bool bench_gemm(const device_info& d, gpu_timer& timer, const vlm::bench::machine_info& m, std::int64_t M,
                std::int64_t K, std::int64_t N) {
  auto hx = rand_host<T>({M, K}, 1), hw = rand_host<T>({N, K}, 2);
  auto x = vlm::to_backend<cuda>(hx), w = vlm::to_backend<cuda>(hw);
  auto y = tensor<T, cuda>::empty({M, N});
  vlm::gemm_into(y, x, w, false, true);
  // Check up to 8 rows against the CPU (the full 4096^3 product would dominate the run).
  const std::int64_t rows = std::min<std::int64_t>(M, 8), r0 = (M - rows) / 2;
  auto want = vlm::matmul(hx.narrow(0, r0, rows).contiguous(), hw, false, true);
  const double err = rel_error(y.narrow(0, r0, rows).to_vector(), want.to_vector());
  const double tol = std::is_same_v<T, float> ? 1e-4 : 2e-2;
  const auto t = timer.time([&] { vlm::gemm_into(y, x, w, false, true); });
  const double flops = 2.0 * M * N * K, bytes = double(M * K + N * K + M * N) * sizeof(T);
  const double tflops = flops / t.median_s / 1e12, gbps = bytes / t.median_s / 1e9;
  const double peak = std::is_same_v<T, float> ? d.peak_f32_tflops : d.peak_bf16_tflops;
  vlm::bench::json_line j("gemm_cuda", m);
  j.set("gpu", d.name).set("dtype", dtype_str<T>()).set("M", M).set("K", K).set("N", N).set_time(t);
  j.set("tflops", tflops).set("peak_tflops", peak > 0 ? nlohmann::json(peak) : nlohmann::json(nullptr));
  j.set("frac_peak", peak > 0 ? nlohmann::json(tflops / peak) : nlohmann::json(nullptr));
  j.set("gbps", gbps).set("peak_gbps", d.peak_gbps).set("frac_bw", gbps / d.peak_gbps);
  j.set("roofline", flops / bytes < (peak > 0 ? peak * 1e12 / (d.peak_gbps * 1e9) : 0) ? "memory" : "compute");
  j.set("max_rel_err", err).set("check", err <= tol ? "ok" : "FAILED");
  j.print();
  return err <= tol;
}

// rms_norm / softmax kernels on preallocated buffers (no allocation inside the timing).
template <class T>
bool bench_rows(const device_info& d, gpu_timer& timer, const vlm::bench::machine_info& m, const char* op,
                std::int64_t R, std::int64_t C) {
  auto hx = rand_host<T>({R, C}, 3), hw = rand_host<T>({C}, 4);
  auto x = vlm::to_backend<cuda>(hx), w = vlm::to_backend<cuda>(hw);
  auto y = tensor<T, cuda>::empty({R, C});
  const bool is_rms = std::strcmp(op, "rms_norm") == 0;
  auto launch = [&] {
    if (is_rms)
      vlm::cuda_detail::rms_norm_kernel<<<static_cast<unsigned>(R), vlm::cuda_detail::row_block(C)>>>(
          y.data(), x.data(), w.data(), C, 1e-6f);
    else
      vlm::cuda_detail::softmax_kernel<<<static_cast<unsigned>(R), vlm::cuda_detail::row_block(C)>>>(y.data(), x.data(),
                                                                                                   C, false);
    VLM_CUDA_LAUNCHED(op);
  };
  launch();
  const std::int64_t rows = std::min<std::int64_t>(R, 16);
  auto hsub = hx.narrow(0, 0, rows).contiguous();
  auto want = is_rms ? vlm::rms_norm(hsub, hw, 1e-6f) : vlm::softmax(hsub);
  const double err = rel_error(y.narrow(0, 0, rows).to_vector(), want.to_vector());
  const double tol = std::is_same_v<T, float> ? 1e-5 : 2e-2;
  const auto t = timer.time(launch);
  const double bytes = double(2 * R * C + (is_rms ? C : 0)) * sizeof(T), gbps = bytes / t.median_s / 1e9;
  vlm::bench::json_line j(std::string(op) + "_cuda", m);
  j.set("gpu", d.name).set("dtype", dtype_str<T>()).set("R", R).set("C", C).set_time(t);
  j.set("gbps", gbps).set("peak_gbps", d.peak_gbps).set("frac_bw", gbps / d.peak_gbps);
  j.set("max_rel_err", err).set("check", err <= tol ? "ok" : "FAILED");
  j.print();
  return err <= tol;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (vlm::cuda_rt::device_count() == 0) {
    std::fprintf(stderr, "bench_gemm_cuda: no CUDA device\n");
    return 77;
  }
  const auto d = query_device();
  const auto m = vlm::bench::machine();
  std::fprintf(stderr, "# %s: %d SMs, L2 %.0f MB, memory roofline %.0f GB/s, dense peak bf16 %s / f32 %s TFLOP/s\n",
               d.name.c_str(), d.sms, d.l2_bytes / 1e6, d.peak_gbps,
               d.peak_bf16_tflops > 0 ? std::to_string(d.peak_bf16_tflops).c_str() : "n/a",
               d.peak_f32_tflops > 0 ? std::to_string(d.peak_f32_tflops).c_str() : "n/a");
  gpu_timer timer(d, quick);
  bool ok = true;
  const std::int64_t shapes[][3] = {{1, 896, 4864}, {256, 896, 4864}, {256, 2048, 11008}, {4096, 4096, 4096}};
  for (const auto& s : shapes) {
    ok &= bench_gemm<bf16>(d, timer, m, s[0], s[1], s[2]);
    ok &= bench_gemm<float>(d, timer, m, s[0], s[1], s[2]);
  }
  for (const auto& [R, C] : {std::pair<std::int64_t, std::int64_t>{1, 2048}, {8192, 2048}, {8192, 896}}) {
    ok &= bench_rows<bf16>(d, timer, m, "rms_norm", R, C);
    ok &= bench_rows<float>(d, timer, m, "rms_norm", R, C);
  }
  for (const auto& [R, C] : {std::pair<std::int64_t, std::int64_t>{16 * 1024, 1024}, {256, 151936}}) {
    ok &= bench_rows<bf16>(d, timer, m, "softmax", R, C);
    ok &= bench_rows<float>(d, timer, m, "softmax", R, C);
  }
  return ok ? 0 : 1;
}
