// Every vlm::cuda op: include this to get the whole CUDA backend (the counterpart of
// backends/cpu.hpp; the same op names overloaded on tensor<T, cuda>, plus a stream argument).
// Kernels need VLM_WITH_CUDA (link vlm::cuda) and a TU compiled by nvcc; anywhere else this
// header still compiles and each op fails with a static_assert when called (cuda/unavailable.hpp).
#pragma once
#include "vlm/backends/cuda/attention.hpp"
#include "vlm/backends/cuda/copy.hpp"
#include "vlm/backends/cuda/elementwise.hpp"
#include "vlm/backends/cuda/embedding.hpp"
#include "vlm/backends/cuda/gemm.hpp"
#include "vlm/backends/cuda/loss.hpp"
#include "vlm/backends/cuda/norm.hpp"
#include "vlm/backends/cuda/reduce.hpp"
#include "vlm/backends/cuda/rotary.hpp"
#include "vlm/backends/cuda/softmax.hpp"
