// Host memory for vlm::cpu: 64-byte aligned blocks from a caching allocator.
// Why caching: the training loop allocates the same activation and gradient sizes every step;
// reusing freed blocks makes a cleared tape's next step allocation-free (no page faults, no
// zeroing by the kernel). The cache is bounded; blocks beyond the bound go back to the OS.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "vlm/backends/backend.hpp"

namespace vlm::detail {

class host_block_cache {
 public:
  static constexpr std::size_t alignment = 64;
  static constexpr std::size_t max_cached_bytes = std::size_t(2) << 30;

  static host_block_cache& instance() {
    static host_block_cache cache;
    return cache;
  }
  ~host_block_cache() {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
  }

  void* allocate(std::size_t bytes) {
    std::size_t size = round_up(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(alignment, size);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* p, std::size_t bytes) {
    if (!p) return;
    std::size_t size = round_up(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_ + size > max_cached_bytes) {
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }

 private:
  // Size classes: 64-byte granules below 64 KiB, then 1/16 of the next power of two, so
  // similar sizes share a class (at most ~6% waste).
  static std::size_t round_up(std::size_t n) {
    if (n == 0) n = 1;
    if (n <= 65536) return (n + 63) & ~std::size_t(63);
    std::size_t p = 1;
    while (p < n) p <<= 1;
    std::size_t step = p / 16;
    return (n + step - 1) / step * step;
  }
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

}  // namespace vlm::detail

namespace vlm {

template <>
struct backend_memory<cpu> {
  static void* allocate(std::size_t n) { return detail::host_block_cache::instance().allocate(n); }
  static void deallocate(void* p, std::size_t n) { detail::host_block_cache::instance().deallocate(p, n); }
  static void copy(void* dst, const void* src, std::size_t n) { if (n) std::memcpy(dst, src, n); }
  static void copy_to_host(void* dst, const void* src, std::size_t n) { copy(dst, src, n); }
  static void copy_from_host(void* dst, const void* src, std::size_t n) { copy(dst, src, n); }
  static void fill_zero(void* p, std::size_t n) { if (n) std::memset(p, 0, n); }
};

static_assert(backend<cpu>);

}  // namespace vlm
