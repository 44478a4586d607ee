// A fixed pool of worker threads that wait passively (condition variable, no spinning).
// Why passive: measured on a 2-core machine, spinning pools (llama.cpp's, OpenMP's) ran 10-30x
// slower whenever another process shared the cores; a sleeping worker costs nothing there.
// parallel_for splits [0, n) into at most one chunk per thread, claimed from a shared counter;
// the calling thread works too. Calls from inside a worker run serially (no nested parallelism, no deadlock).
#pragma once
#include <algorithm>
#include <atomic>
#include <memory>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vlm::cpu_detail {

class thread_pool {
 public:
  explicit thread_pool(int threads) : n_threads_(std::max(1, threads)) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(begin, end) on disjoint chunks covering [0, n). A chunk is at least `grain` long,
  // so small loops stay on the calling thread. Chunks are claimed from a shared counter, and
  // the caller returns as soon as every chunk is *done*: a worker that wakes late (its core
  // busy with another process) finds nothing left and costs the caller nothing.
  void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& fn) {
    if (n <= 0) return;
    std::int64_t chunks = std::min<std::int64_t>(n_threads_, std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, grain)));
    if (chunks <= 1 || in_worker()) {
      fn(0, n);
      return;
    }
    auto j = std::make_shared<job>();
    j->fn = &fn;
    j->n = n;
    j->chunks = chunks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = j;
      ++generation_;
    }
    wake_.notify_all();
    run_chunks(*j);
    std::unique_lock<std::mutex> lock(j->mu);
    j->done_cv.wait(lock, [&] { return j->done == j->chunks; });
    if (j->error) std::rethrow_exception(j->error);
  }

  static thread_pool& global() {
    static thread_pool pool(default_threads());
    return pool;
  }
  // VLM_NUM_THREADS overrides; default: every hardware thread.
  static int default_threads() {
    if (const char* v = std::getenv("VLM_NUM_THREADS"))
      if (int n = std::atoi(v); n > 0) return n;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

 private:
  struct job {
    const std::function<void(std::int64_t, std::int64_t)>* fn = nullptr;
    std::int64_t n = 0, chunks = 0;
    std::atomic<std::int64_t> next{0};
    std::mutex mu;
    std::condition_variable done_cv;
    std::int64_t done = 0;
    std::exception_ptr error;
  };

  static bool& in_worker() {
    static thread_local bool flag = false;
    return flag;
  }
  // Claims and runs chunks until none is left.
  static void run_chunks(job& j) {
    for (;;) {
      const std::int64_t c = j.next.fetch_add(1);
      if (c >= j.chunks) return;
      bool was = in_worker();
      in_worker() = true;
      std::exception_ptr err;
      try {
        (*j.fn)(j.n * c / j.chunks, j.n * (c + 1) / j.chunks);
      } catch (...) {
        err = std::current_exception();
      }
      in_worker() = was;
      std::lock_guard<std::mutex> lock(j.mu);
      if (err && !j.error) j.error = err;
      if (++j.done == j.chunks) j.done_cv.notify_all();
    }
  }
  void worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<job> j;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        j = current_;  // shared: the job outlives a caller that already returned
      }
      if (j) run_chunks(*j);
    }
  }

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::shared_ptr<job> current_;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// parallel_for on the global pool.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
  thread_pool::global().parallel_for(n, grain, std::function<void(std::int64_t, std::int64_t)>(std::forward<F>(fn)));
}

}  // namespace vlm::cpu_detail
