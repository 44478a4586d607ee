// Checked CUDA runtime and cuBLAS calls. Every call and every launch goes through these, so a
// failure names the call, the file and line. VLM_CUDA_SYNC_DEBUG=1 synchronises after each
// launch to localise asynchronous faults. Host code only: compiles with g++ as well as nvcc.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdlib>

#include "vlm/core/error.hpp"

namespace vlm::cuda_detail {

inline void check(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess)
    fail<cuda_error>("[cuda] ", what, " failed: ", cudaGetErrorString(e), " (", file, ":", line, ")");
}
inline void check(cublasStatus_t s, const char* what, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail<cuda_error>("[cublas] ", what, " failed with status ", static_cast<int>(s), " (", file, ":", line, ")");
}
inline bool sync_debug() {
  static const bool on = [] {
    const char* v = std::getenv("VLM_CUDA_SYNC_DEBUG");
    return v && *v && *v != '0';
  }();
  return on;
}
// After a kernel launch: report launch errors (and, in sync-debug mode, execution errors).
inline void check_launch(const char* kernel, const char* file, int line) {
  check(cudaGetLastError(), kernel, file, line);
  if (sync_debug()) check(cudaDeviceSynchronize(), kernel, file, line);
}

}  // namespace vlm::cuda_detail

#define VLM_CUDA_CHECK(call) ::vlm::cuda_detail::check((call), #call, __FILE__, __LINE__)
#define VLM_CUDA_LAUNCHED(kernel_name) ::vlm::cuda_detail::check_launch(kernel_name, __FILE__, __LINE__)
