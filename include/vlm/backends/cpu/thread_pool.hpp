// A fixed pool of worker threads that wait passively (condition variable, no spinning).
// Why passive: measured on a 2-core machine, spinning pools (llama.cpp's, OpenMP's) ran 10-30x
// slower whenever another process shared the cores; a sleeping worker costs nothing there.
// parallel_for splits [0, n) into one contiguous chunk per thread; the calling thread runs a
// chunk too. Calls from inside a worker run serially (no nested parallelism, no deadlock).
#pragma once
#include <algorithm>
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
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
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
  // so small loops stay on the calling thread.
  void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& fn) {
    if (n <= 0) return;
    std::int64_t chunks = std::min<std::int64_t>(n_threads_, std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, grain)));
    if (chunks <= 1 || in_worker()) {
      fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> run_lock(run_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      job_n_ = n;
      job_chunks_ = chunks;
      pending_ = static_cast<int>(chunks - 1);
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
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
  static bool& in_worker() {
    static thread_local bool flag = false;
    return flag;
  }
  void run_chunk(std::int64_t c) {
    std::int64_t b = job_n_ * c / job_chunks_, e = job_n_ * (c + 1) / job_chunks_;
    bool was = in_worker();
    in_worker() = true;
    try {
      (*job_)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    in_worker() = was;
  }
  void worker_loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      std::int64_t chunk;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index >= job_chunks_) continue;  // this job needs fewer threads
        chunk = index;
      }
      run_chunk(chunk);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable wake_, done_;
  const std::function<void(std::int64_t, std::int64_t)>* job_ = nullptr;
  std::int64_t job_n_ = 0, job_chunks_ = 0;
  int pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// parallel_for on the global pool.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
  thread_pool::global().parallel_for(n, grain, std::function<void(std::int64_t, std::int64_t)>(std::forward<F>(fn)));
}

}  // namespace vlm::cpu_detail
