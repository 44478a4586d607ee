// Reductions on vlm::cuda, same names as backends/cpu/reduce.hpp:
//   sum_last / mean_last / max_last [..., C] -> [...]   (CUB DeviceSegmentedReduce, f32)
//   sum_rows [..., C] -> [C]   (column kernel, f64 accumulation)
//   sum_all -> double          (CUB DeviceReduce in f64; synchronises to return the value)
// Inputs of any strides (made contiguous first). Results rounded once to T.
#pragma once
#include "vlm/core/config.hpp"
#if VLM_CUDA_KERNELS
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <cub/device/device_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <limits>

#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/kernels/reduce.cuh"

namespace vlm {

namespace cuda_detail {

template <class T>
vlm::shape drop_last(const tensor<T, cuda>& x) {
  vlm::shape s;
  for (int i = 0; i + 1 < x.dim(); ++i) s.push_back(x.size(i));
  return s;
}

// Scratch bytes for CUB (never a null pointer: a null pointer turns the call into a size query).
inline tensor<std::uint8_t, cuda> cub_scratch(std::size_t bytes) {
  return tensor<std::uint8_t, cuda>::empty({static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1))});
}

// f32 reduction of each row of x [R, C] with op/init, then out = T(result * mul).
template <class T, class Op>
tensor<T, cuda> segmented_reduce_last(const tensor<T, cuda>& x, Op op, float init, bool mean, cudaStream_t s) {
  VLM_CHECK_AS(shape_error, x.dim() >= 1, "reduction over the last dimension of a 0-d tensor");
  auto xc = x.contiguous();
  const std::int64_t C = x.size(-1), R = C > 0 ? x.numel() / C : drop_last(x).numel();
  auto out = tensor<T, cuda>::empty(drop_last(x));
  if (R == 0) return out;
  VLM_CHECK_AS(shape_error, R <= std::numeric_limits<int>::max(), "too many rows for a segmented reduce: ", R);
  auto partial = tensor<float, cuda>::empty({R});
  auto in = thrust::make_transform_iterator(xc.data(), to_float_fn<T>{});
  auto offsets = thrust::make_transform_iterator(thrust::make_counting_iterator<std::int64_t>(0), times_fn{C});
  std::size_t bytes = 0;
  VLM_CUDA_CHECK(cub::DeviceSegmentedReduce::Reduce(nullptr, bytes, in, partial.data(), static_cast<int>(R), offsets,
                                                    offsets + 1, op, init, s));
  auto scratch = cub_scratch(bytes);
  VLM_CUDA_CHECK(cub::DeviceSegmentedReduce::Reduce(scratch.data(), bytes, in, partial.data(), static_cast<int>(R),
                                                    offsets, offsets + 1, op, init, s));
  const float mul = mean ? 1.f / static_cast<float>(C) : 1.f;
  finish_kernel<<<grid_for(R, 256), 256, 0, s>>>(out.data(), partial.data(), R, mul);
  VLM_CUDA_LAUNCHED("finish_kernel");
  return out;
}

}  // namespace cuda_detail

template <class T>
tensor<T, cuda> sum_last(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  return cuda_detail::segmented_reduce_last(x, cuda_detail::sum_op{}, 0.f, false, s);
}
template <class T>
tensor<T, cuda> mean_last(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  return cuda_detail::segmented_reduce_last(x, cuda_detail::sum_op{}, 0.f, true, s);
}
template <class T>
tensor<T, cuda> max_last(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  return cuda_detail::segmented_reduce_last(x, cuda_detail::max_op{}, -std::numeric_limits<float>::infinity(), false,
                                            s);
}

// [..., C] -> [C]: column sums over all leading dimensions.
template <class T>
tensor<T, cuda> sum_rows(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  auto xc = x.contiguous();
  const std::int64_t C = x.size(-1), R = x.numel() / std::max<std::int64_t>(1, C);
  auto out = tensor<T, cuda>::empty({C});
  cuda_detail::column_reduce(R, C, cuda_detail::sum_rows_fn<T>{xc.data(), out.data(), C}, s);
  VLM_CUDA_LAUNCHED("column_reduce_kernel(sum_rows)");
  return out;
}

// Sum of every element, accumulated in f64. Synchronises the stream to return the value.
template <class T>
double sum_all(const tensor<T, cuda>& x, cudaStream_t s = 0) {
  auto xc = x.contiguous();
  const std::int64_t n = x.numel();
  if (n == 0) return 0.0;
  auto in = thrust::make_transform_iterator(xc.data(), cuda_detail::to_double_fn<T>{});
  auto result = tensor<double, cuda>::empty({1});
  std::size_t bytes = 0;
  VLM_CUDA_CHECK(cub::DeviceReduce::Reduce(nullptr, bytes, in, result.data(), n, cuda_detail::sum_op{}, 0.0, s));
  auto scratch = cuda_detail::cub_scratch(bytes);
  VLM_CUDA_CHECK(cub::DeviceReduce::Reduce(scratch.data(), bytes, in, result.data(), n, cuda_detail::sum_op{}, 0.0, s));
  double v = 0;
  VLM_CUDA_CHECK(cudaMemcpyAsync(&v, result.data(), sizeof(double), cudaMemcpyDeviceToHost, s));
  VLM_CUDA_CHECK(cudaStreamSynchronize(s));
  return v;
}

}  // namespace vlm
#else
#include "vlm/backends/cuda/unavailable.hpp"
#endif
