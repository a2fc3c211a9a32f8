#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace refit {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.ParallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)].load(), 1) << threads << " " << n;
    }
  }
}

TEST(ThreadPoolTest, NullPoolRunsInline) {
  int64_t sum = 0;
  ParallelFor(nullptr, 10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum, 45);
}

// Several threads share one pool: calls are serialised and each sees only its own work.
TEST(ThreadPoolTest, ConcurrentCallersGetTheirOwnResults) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> errors{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round) {
        const int64_t n = 100 + c * 10 + round;
        std::vector<int64_t> out(size_t(n), -1);
        pool.ParallelFor(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[size_t(i)] = i * (c + 1);
        });
        for (int64_t i = 0; i < n; ++i) {
          if (out[size_t(i)] != i * (c + 1)) errors++;
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(errors.load(), 0);
}

// The caller does not wait for a worker to get to its chunk: it runs the chunks nobody has claimed
// yet. With more workers than this machine has cores, some are never scheduled in time for a call,
// and the caller runs their chunks (with one chunk per thread fixed in advance, it never would).
TEST(ThreadPoolTest, CallerRunsChunksNoWorkerClaimed) {
  ThreadPool pool(8);
  const std::thread::id caller = std::this_thread::get_id();
  int calls_with_several = 0;
  for (int call = 0; call < 500; ++call) {
    std::vector<std::atomic<int>> hits(64);
    std::atomic<int> by_caller{0};
    pool.ParallelFor(64, [&](int64_t b, int64_t e) {
      if (std::this_thread::get_id() == caller) by_caller++;
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (int i = 0; i < 64; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "call " << call;
    if (by_caller.load() > 1) ++calls_with_several;
  }
  EXPECT_GT(calls_with_several, 0);
}

}  // namespace
}  // namespace refit
