// The passive thread pool: parallel_for covers [0, n) exactly once in disjoint chunks of at
// least `grain`, propagates exceptions (from the caller's chunk and from a worker's), stays
// usable afterwards, runs nested calls serially on the calling thread, and handles calls
// from several outside threads at once.
#include <catch2/catch.hpp>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>
#include <vlm/backends/cpu/thread_pool.hpp>

using vlm::cpu_detail::thread_pool;

namespace {
struct coverage {
  std::vector<std::atomic<int>> hits;
  std::mutex mu;
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
  std::set<std::thread::id> threads;
  explicit coverage(std::int64_t n) : hits(static_cast<std::size_t>(n)) {}
  void run(std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
    std::lock_guard<std::mutex> lock(mu);
    chunks.push_back({b, e});
    threads.insert(std::this_thread::get_id());
  }
};
}  // namespace

TEST_CASE("parallel_for covers every index exactly once in disjoint chunks", "[cpu][thread_pool]") {
  thread_pool pool(4);
  REQUIRE(pool.size() == 4);
  for (std::int64_t n : {1, 2, 7, 17, 97, 1001})
    for (std::int64_t grain : {1, 3, 64}) {
      INFO("n=" << n << " grain=" << grain);
      coverage cov(n);
      pool.parallel_for(n, grain, [&](std::int64_t b, std::int64_t e) { cov.run(b, e); });
      for (std::int64_t i = 0; i < n; ++i) REQUIRE(cov.hits[static_cast<std::size_t>(i)].load() == 1);
      const std::int64_t expect_chunks = std::min<std::int64_t>(4, std::max<std::int64_t>(1, n / grain));
      CHECK(static_cast<std::int64_t>(cov.chunks.size()) == expect_chunks);
      for (auto [b, e] : cov.chunks) CHECK((e - b >= std::min(grain, n)));
      // Chunks are claimed by whichever thread is free (the caller included): never more
      // threads than chunks.
      CHECK(static_cast<std::int64_t>(cov.threads.size()) <= expect_chunks);
    }
}

TEST_CASE("parallel_for with n <= 0 calls nothing; a 1-thread pool runs inline", "[cpu][thread_pool]") {
  thread_pool pool(3);
  int calls = 0;
  pool.parallel_for(0, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  pool.parallel_for(-5, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  CHECK(calls == 0);
  thread_pool one(1);
  coverage cov(50);
  one.parallel_for(50, 1, [&](std::int64_t b, std::int64_t e) { cov.run(b, e); });
  REQUIRE(cov.chunks.size() == 1);
  CHECK(cov.chunks[0] == std::pair<std::int64_t, std::int64_t>{0, 50});
  CHECK(*cov.threads.begin() == std::this_thread::get_id());
}

TEST_CASE("exceptions in any chunk reach the caller and the pool stays usable", "[cpu][thread_pool]") {
  thread_pool pool(4);
  for (std::int64_t bad : {0, 50, 99}) {  // the caller's chunk, a middle worker, the last worker
    INFO("throwing at index " << bad);
    std::atomic<int> done{0};
    CHECK_THROWS_WITH(pool.parallel_for(100, 1,
                                        [&](std::int64_t b, std::int64_t e) {
                                          ++done;
                                          if (bad >= b && bad < e) throw std::runtime_error("chunk failed at " + std::to_string(bad));
                                        }),
                      "chunk failed at " + std::to_string(bad));
    CHECK(done.load() == 4);  // every chunk still ran (the caller waited for all of them)
    coverage cov(100);
    pool.parallel_for(100, 1, [&](std::int64_t b, std::int64_t e) { cov.run(b, e); });
    for (auto& h : cov.hits) REQUIRE(h.load() == 1);
  }
}

TEST_CASE("nested parallel_for runs serially inside a chunk and covers everything", "[cpu][thread_pool]") {
  thread_pool pool(4);
  const std::int64_t n = 8, m = 37;
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n * m));
  std::atomic<int> moved_thread{0};  // Catch2 assertions are not thread-safe: count, check after
  pool.parallel_for(n, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const auto outer_thread = std::this_thread::get_id();
      pool.parallel_for(m, 1, [&](std::int64_t jb, std::int64_t je) {
        if (std::this_thread::get_id() != outer_thread) ++moved_thread;
        for (std::int64_t j = jb; j < je; ++j) hits[static_cast<std::size_t>(i * m + j)]++;
      });
      // The global pool called from a chunk also runs inline.
      vlm::cpu_detail::parallel_for(m, 1, [&](std::int64_t, std::int64_t) {});
    }
  });
  for (auto& h : hits) REQUIRE(h.load() == 1);
  CHECK(moved_thread.load() == 0);
}

TEST_CASE("many small jobs and calls from two outside threads all complete", "[cpu][thread_pool]") {
  thread_pool pool(3);
  std::atomic<std::int64_t> total{0};
  auto hammer = [&] {
    for (int rep = 0; rep < 300; ++rep)
      pool.parallel_for(10 + rep % 7, 1, [&](std::int64_t b, std::int64_t e) { total += e - b; });
  };
  std::thread t1(hammer), t2(hammer);
  t1.join();
  t2.join();
  std::int64_t expect = 0;
  for (int rep = 0; rep < 300; ++rep) expect += 10 + rep % 7;
  CHECK(total.load() == 2 * expect);
}

TEST_CASE("the global parallel_for covers every index once", "[cpu][thread_pool]") {
  coverage cov(100003);
  vlm::cpu_detail::parallel_for(100003, 1000, [&](std::int64_t b, std::int64_t e) { cov.run(b, e); });
  for (auto& h : cov.hits) REQUIRE(h.load() == 1);
}
