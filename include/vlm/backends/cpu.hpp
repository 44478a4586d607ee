// Every CPU op: include this to get the whole vlm::cpu backend.
#pragma once
#include "vlm/backends/cpu/attention.hpp"
#include "vlm/backends/cpu/elementwise.hpp"
#include "vlm/backends/cpu/embedding.hpp"
#include "vlm/backends/cpu/gemm.hpp"
#include "vlm/backends/cpu/loss.hpp"
#include "vlm/backends/cpu/norm.hpp"
#include "vlm/backends/cpu/reduce.hpp"
#include "vlm/backends/cpu/rotary.hpp"
#include "vlm/backends/cpu/softmax.hpp"
#include "vlm/backends/cpu/thread_pool.hpp"
