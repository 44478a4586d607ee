// Device pieces of vlm::rl::group_advantages on vlm::cuda (the launcher is in rl/advantages.hpp):
// iterator functors fed to cub::DeviceSegmentedReduce / cub::DeviceReduce (f64), the kernel
// that turns group and batch sums into means, and the kernel that writes
//   A_i = (r_i - mean_g) / (std + 1e-4)   std = group std (mode 0), batch std (1), none (2: A = r - mean_g)
// with torch.std's N - 1. Included only under VLM_CUDA_KERNELS (nvcc + VLM_WITH_CUDA).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace vlm::cuda_detail {

struct float_to_double {
  __host__ __device__ double operator()(float x) const { return static_cast<double>(x); }
};
struct add_double {
  __host__ __device__ double operator()(double a, double b) const { return a + b; }
};
// Segment offsets g * G (segment g = group g).
struct times_g {
  std::int64_t G;
  __host__ __device__ std::int64_t operator()(std::int64_t g) const { return g * G; }
};
// (r_i - mean of i's group)^2; means already in place of the sums.
struct group_sq_dev {
  const float* r;
  const double* mean;
  std::int64_t G;
  __host__ __device__ double operator()(std::int64_t i) const {
    const double d = static_cast<double>(r[i]) - mean[i / G];
    return d * d;
  }
};
// (r_i - batch mean)^2.
struct batch_sq_dev {
  const float* r;
  const double* mean;  // one value
  std::int64_t N;
  __host__ __device__ double operator()(std::int64_t i) const {
    const double d = static_cast<double>(r[i]) - *mean;
    return d * d;
  }
};

inline unsigned grpo_grid(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + 255) / 256, 1, 1 << 16));
}

// sums[g] /= G for g < P; thread P also does batch_sum /= N. The kernels are templates so that a
// header included by several TUs does not define the same host stub twice.
template <class R = double>
__global__ void grpo_group_means_kernel(R* sums, std::int64_t P, std::int64_t G, R* batch_sum, std::int64_t N) {
  for (std::int64_t g = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; g <= P;
       g += std::int64_t(gridDim.x) * blockDim.x) {
    if (g < P) sums[g] /= static_cast<R>(G);
    else *batch_sum /= static_cast<R>(N);
  }
}

// mode: 0 group, 1 batch, 2 none.
template <class R>
__global__ void grpo_advantages_kernel(float* out, const R* r, const double* mean, const double* group_ssd,
                                              const double* batch_ssd, std::int64_t N, std::int64_t G, int mode,
                                              double eps) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < N;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t g = i / G;
    const double centred = static_cast<double>(r[i]) - mean[g];
    double a = centred;
    if (mode == 0) a = centred / (sqrt(group_ssd[g] / static_cast<double>(G - 1)) + eps);
    else if (mode == 1) a = centred / (sqrt(*batch_ssd / static_cast<double>(N - 1)) + eps);
    out[i] = static_cast<float>(a);
  }
}

}  // namespace vlm::cuda_detail
