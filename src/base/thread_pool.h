// A small fixed-size thread pool with a blocking ParallelFor.
//
// ParallelFor(n, fn) splits [0, n) into one contiguous chunk per thread and calls fn(begin, end)
// for each, returning when every chunk is done. The caller's thread and the workers claim chunks
// as they get to them: a worker the OS has not scheduled yet (a new worker shares its creator's CPU
// until the scheduler moves it; a busy machine delays it) does not hold the caller up, who runs
// the chunks nobody claimed. With one thread (or a null pool) it runs inline. ParallelFor may be
// called from several threads at once; calls are serialised. fn must not call ParallelFor on the
// same pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace refit {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 means no worker threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs chunks of call `call` until none is left unclaimed.
  void RunChunks(uint64_t call);

  // Spins (about 1-2 ms) a worker or the caller makes before blocking on a condition variable: an
  // engine's layers come back to back, so workers stay awake through a run. With only a short spin
  // (40 us), 2-thread runs of small models stalled for milliseconds at p90 (tiny_misc: p90 4.7 ms
  // against a 0.2 ms median; 0.1 ms with this spin), as a sleeping worker waits to be scheduled.
  static constexpr int kSpinIterations = 50000;

  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // serialises ParallelFor calls
  std::mutex mu_;       // with the condition variables, for sleeping
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;  // published by claim_
  int64_t n_ = 0;
  uint64_t calls_ = 0;                   // ParallelFor calls so far (under call_mu_)
  std::atomic<uint64_t> generation_{0};  // the current call, for waking workers
  // (call << 32) | the next unclaimed chunk of that call: a claim is a compare-exchange, so a
  // worker late for one call cannot take a chunk of the next.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};  // chunks of the current call finished
  std::atomic<bool> stop_{false};
};

// Runs fn over [0, n) on `pool`, or inline when pool is null.
inline void ParallelFor(ThreadPool* pool, int64_t n,
                        const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr || pool->num_threads() == 1 || n <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  pool->ParallelFor(n, fn);
}

}  // namespace refit
