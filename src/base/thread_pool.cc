#include "base/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace refit {
namespace {

void Chunk(int64_t n, int parts, int index, int64_t* begin, int64_t* end) {
  const int64_t base = n / parts, extra = n % parts;
  *begin = index * base + std::min<int64_t>(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}

// One step of a spin loop: a pause hint (SSE2 is baseline on x86-64), and every 64th step a
// yield. A new worker starts on its creator's CPU until the scheduler moves it; while two threads
// share a CPU, a pure spin holds it for a whole time slice (milliseconds) while the thread it
// waits for cannot run. Yielding hands the CPU over.
inline void SpinStep(int spin) {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
  if (spin % 64 == 63) std::this_thread::yield();
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks(uint64_t call) {
  const uint64_t parts = uint64_t(num_threads());
  for (;;) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    do {
      if ((c >> 32) != call || (c & 0xffffffffu) >= parts) return;
    } while (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire));
    // The claim synchronises with the release store that published this call's fn_ and n_.
    int64_t b, e;
    Chunk(n_, int(parts), int(c & 0xffffffffu), &b, &e);
    if (b < e) (*fn_)(b, e);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == int(parts)) {
      std::lock_guard<std::mutex> lock(mu_);  // the caller about to sleep cannot miss it
      done_cv_.notify_all();
    }
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  std::lock_guard<std::mutex> call_lock(call_mu_);
  const int parts = num_threads();
  const uint64_t call = ++calls_;
  fn_ = &fn;
  n_ = n;
  done_.store(0, std::memory_order_relaxed);
  // Publishes fn_, n_ and done_'s reset to whoever claims a chunk of this call.
  claim_.store(call << 32, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mu_);  // a worker about to sleep cannot miss the increment
    generation_.store(call, std::memory_order_release);
  }
  work_cv_.notify_all();
  RunChunks(call);
  // Chunks claimed by workers still running. Engine layers are often only microseconds long:
  // spin briefly before sleeping, since a sleep/wake round trip would cost more than the work.
  for (int spin = 0; spin < kSpinIterations && done_.load(std::memory_order_acquire) != parts;
       ++spin) {
    SpinStep(spin);
  }
  if (done_.load(std::memory_order_acquire) != parts) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == parts; });
  }
  fn_ = nullptr;
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0;
         spin < kSpinIterations && g == seen && !stop_.load(std::memory_order_acquire); ++spin) {
      SpinStep(spin);
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] {
        return stop_.load(std::memory_order_acquire) ||
               generation_.load(std::memory_order_acquire) != seen;
      });
      g = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = g;
    RunChunks(g);
  }
}

}  // namespace refit
