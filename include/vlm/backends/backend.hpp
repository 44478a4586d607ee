// Backend tags and their memory traits.
//   vlm::cpu  -- host memory, Eigen + a passive thread pool for compute.
//   vlm::cuda -- device memory, cuBLAS + CUB + handwritten kernels; needs VLM_WITH_CUDA
//               (the vlm::cuda CMake target) and, for kernels, a TU compiled by nvcc.
// backend_memory<B> allocates, frees and copies bytes; ops are free functions overloaded on
// tensor<T, B> in backends/<b>/*.hpp, so layer code written once compiles for both.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstring>
#include <type_traits>

namespace vlm {

struct cpu {
  static constexpr const char* name = "cpu";
};
struct cuda {
  static constexpr const char* name = "cuda";
};

template <class B> inline constexpr bool dependent_false_v = false;

// Primary template: a backend without memory support in this build.
template <class Backend>
struct backend_memory {
  static_assert(dependent_false_v<Backend>,
                "this backend is not available in this build: vlm::cuda needs VLM_CUDA=ON "
                "(link vlm::cuda) and ops on it a TU compiled by nvcc");
};

template <class B>
concept backend = requires(std::size_t n, void* p, const void* q) {
  { backend_memory<B>::allocate(n) } -> std::same_as<void*>;
  backend_memory<B>::deallocate(p, n);
  backend_memory<B>::copy(p, q, n);          // within the backend
  backend_memory<B>::copy_to_host(p, q, n);  // backend -> host
  backend_memory<B>::copy_from_host(p, q, n);  // host -> backend
  backend_memory<B>::fill_zero(p, n);
};

}  // namespace vlm
