// A small fixed-size thread pool with a blocking ParallelFor.
//
// ParallelFor(n, fn) splits [0, n) into one contiguous range per thread (the caller's thread is
// one of them) and returns when fn has run over every index. Each thread works through its own
// range from the front, a piece at a time, calling fn(begin, end) for each piece; a thread that
// runs out takes pieces from the back of another thread's range. So with every thread on time each
// one computes exactly its own range (the data a layer's previous call left in its cache), and a
// thread the OS has not scheduled yet, or one slowed by other work on its core, does not hold the
// call up: the others finish its range. With one thread (or a null pool) it runs inline.
// ParallelFor may be called from several threads at once; calls are serialised. fn must not call
// ParallelFor on the same pool.
//
// A new thread starts on its creator's CPU, and Linux's load balancer can leave it there for about
// 100 ms while the creator keeps that CPU busy: in 4 of 5 fresh `refit bench` processes the two
// threads of MobileNetV2's first ten runs shared one CPU, at a median of 8.2-10.6 ms (7.9 on one
// thread). So each worker first moves itself to another CPU the process may use (see
// WorkerStartCpu) and then restores its affinity: a start, not a pin. With it, the same runs took
// 5.7-6.5 ms, the threads apart from the first run.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace refit {

// The CPU that worker `index` (1-based) of a pool created on `creator_cpu` starts on: the
// index-th CPU of `allowed` (ascending) after the creator's, wrapping around. -1 (stay where it
// is) when `allowed` has no CPU but the creator's, or does not hold the creator's.
int WorkerStartCpu(const std::vector<int>& allowed, int creator_cpu, int index);

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
  void WorkerLoop(int index);
  // Runs pieces of call `call` as participant `index` (0: the caller) until none is left anywhere.
  void RunPieces(uint64_t call, int index);
  // Claims a piece of call `call` from `from`'s range: from the front for its owner, else from the
  // back. False when that range is empty or belongs to another call.
  bool Claim(uint64_t call, int from, bool owner, int64_t* begin, int64_t* end);

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
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;  // published by the ranges
  int64_t n_ = 0;
  int64_t scale_ = 1;                    // indices per unit (a call has fewer than 2^18 units)
  int64_t units_ = 0;                    // units of the current call
  uint64_t calls_ = 0;                   // ParallelFor calls so far (under call_mu_)
  std::atomic<uint64_t> generation_{0};  // the current call, for waking workers
  // Per participant: (call << 36) | (first unclaimed unit << 18) | end unit, one cache line each.
  // A claim is a compare-exchange, so a thread late for one call cannot take a piece of the next.
  struct alignas(64) Range {
    std::atomic<uint64_t> word{0};
  };
  std::vector<Range> ranges_;
  std::atomic<int64_t> done_{0};  // units of the current call finished
  std::atomic<bool> stop_{false};
  int creator_cpu_ = -1;  // where the constructor ran; -1 if unknown
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
