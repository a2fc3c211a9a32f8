#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

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

// The caller does not wait for a worker to get to its range: it takes pieces of ranges nobody has
// started. With more workers than this machine has cores, some are never scheduled in time for a
// call, and the caller runs units of their ranges (units 8 and up of 64: its own range is 0-7).
TEST(ThreadPoolTest, CallerRunsRangesNoWorkerStarted) {
  ThreadPool pool(8);
  const std::thread::id caller = std::this_thread::get_id();
  int calls_with_others = 0;
  for (int call = 0; call < 500; ++call) {
    std::vector<std::atomic<int>> hits(64);
    std::atomic<int> others_by_caller{0};
    pool.ParallelFor(64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        hits[size_t(i)]++;
        if (i >= 8 && std::this_thread::get_id() == caller) others_by_caller++;
      }
    });
    for (int i = 0; i < 64; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "call " << call;
    if (others_by_caller.load() > 0) ++calls_with_others;
  }
  EXPECT_GT(calls_with_others, 0);
}

// A thread stalled inside its first piece (here: until the caller has run a unit of the stalled
// thread's range, at most 10 s) does not hold the call up: the caller, done with its own half,
// takes the rest of the stalled thread's range from the back. With one fixed chunk per thread the
// caller would wait for the stalled one, and the stall would end by its timeout.
TEST(ThreadPoolTest, OthersFinishTheRangeOfAStalledThread) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  int stalls = 0, ended_by_stealing = 0;
  for (int call = 0; call < 20; ++call) {
    std::vector<std::atomic<int>> hits(100);
    std::atomic<bool> caller_in_second_half{false};
    std::atomic<bool> stalled{false};
    pool.ParallelFor(100, [&](int64_t b, int64_t e) {
      const bool on_caller = std::this_thread::get_id() == caller;
      if (!on_caller && b == 50 && !stalled.exchange(true)) {
        ++stalls;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!caller_in_second_half.load() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        if (caller_in_second_half.load()) ++ended_by_stealing;
      }
      for (int64_t i = b; i < e; ++i) {
        hits[size_t(i)]++;
        if (on_caller && i >= 50) caller_in_second_half = true;
      }
    });
    for (int i = 0; i < 100; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "call " << call;
  }
  // Calls where the worker reached its range before the caller took all of it stalled, and every
  // stall ended because the caller took over.
  EXPECT_EQ(ended_by_stealing, stalls) << stalls << " stalls";
}

// More indices than a range can count units: each unit stands for several indices, and every
// index is still covered once.
TEST(ThreadPoolTest, LargeCountsAreCoveredExactlyOnce) {
  ThreadPool pool(3);
  const int64_t n = 1000003;
  std::vector<std::atomic<uint8_t>> hits(static_cast<size_t>(n));
  std::atomic<int64_t> calls{0};
  pool.ParallelFor(n, [&](int64_t b, int64_t e) {
    ASSERT_LT(b, e);
    calls++;
    for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << i;
  EXPECT_GT(calls.load(), 3);
}

TEST(ThreadPoolTest, WorkersStartOnTheCpusAfterTheCreators) {
  EXPECT_EQ(WorkerStartCpu({0, 1}, 0, 1), 1);
  EXPECT_EQ(WorkerStartCpu({0, 1}, 1, 1), 0);
  EXPECT_EQ(WorkerStartCpu({2, 5, 7}, 5, 1), 7);
  EXPECT_EQ(WorkerStartCpu({2, 5, 7}, 5, 2), 2);
  EXPECT_EQ(WorkerStartCpu({2, 5, 7}, 5, 3), 5);   // more workers than CPUs: they wrap around
  EXPECT_EQ(WorkerStartCpu({3}, 3, 1), -1);        // nowhere else to go
  EXPECT_EQ(WorkerStartCpu({2, 5, 7}, 4, 1), -1);  // the creator's CPU is not in the set
  EXPECT_EQ(WorkerStartCpu({}, -1, 1), -1);
}

#if defined(__linux__)
// A worker's move to another CPU is a start, not a pin: once running, it may use every CPU its
// creator may. The caller's piece waits for the worker's, so the worker runs one.
TEST(ThreadPoolTest, WorkersKeepEveryCpuTheCreatorMay) {
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof(mine), &mine), 0);
  for (int round = 0; round < 5; ++round) {
    ThreadPool pool(2);
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<bool> worker_ran{false}, same_mask{false};
    pool.ParallelFor(2, [&](int64_t b, int64_t) {
      if (std::this_thread::get_id() != caller) {
        cpu_set_t theirs;
        same_mask = sched_getaffinity(0, sizeof(theirs), &theirs) == 0 && CPU_EQUAL(&mine, &theirs);
        worker_ran = true;
      } else if (b == 0) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!worker_ran.load() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
    });
    ASSERT_TRUE(worker_ran.load()) << "round " << round;
    EXPECT_TRUE(same_mask.load()) << "round " << round;
  }
}
#endif

}  // namespace
}  // namespace refit
