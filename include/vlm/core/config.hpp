// Compiler configuration shared by both backends.
// VLM_HD marks small helpers usable from host and device code: `__host__ __device__ inline`
// under nvcc, plain `inline` elsewhere (cf. CuTe's config.hpp).
#pragma once

#if defined(__CUDACC__)
#define VLM_HD __host__ __device__ inline
#define VLM_DEVICE __device__ inline
#else
#define VLM_HD inline
#define VLM_DEVICE inline
#endif

#if defined(VLM_WITH_CUDA) && defined(__CUDACC__)
#define VLM_CUDA_KERNELS 1
#else
#define VLM_CUDA_KERNELS 0
#endif
