#include "base/thread_pool.h"

#include <algorithm>

#if defined(__linux__)
#include <sched.h>
#endif

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

// A range's word: the call (its low 28 bits) and the unclaimed units [begin, end), 18 bits each.
constexpr int kUnitBits = 18;
constexpr uint64_t kUnitMask = (uint64_t{1} << kUnitBits) - 1;
constexpr int kCallShift = 2 * kUnitBits;
constexpr uint64_t kCallMask = (uint64_t{1} << (64 - kCallShift)) - 1;
constexpr int64_t kMaxUnits = int64_t(kUnitMask);

uint64_t Pack(uint64_t call, int64_t begin, int64_t end) {
  return ((call & kCallMask) << kCallShift) | (uint64_t(begin) << kUnitBits) | uint64_t(end);
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

int CurrentCpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

// Moves the calling worker to WorkerStartCpu's CPU, then gives it back every CPU it may use.
void StartAwayFromCreator(int creator_cpu, int index) {
#if defined(__linux__)
  if (creator_cpu < 0) return;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  const int cpu = WorkerStartCpu(cpus, creator_cpu, index);
  if (cpu < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  // Both calls only steer the scheduler; if either fails the worker runs where it is.
  if (sched_setaffinity(0, sizeof(one), &one) == 0) sched_setaffinity(0, sizeof(allowed), &allowed);
#else
  (void)creator_cpu;
  (void)index;
#endif
}

}  // namespace

int WorkerStartCpu(const std::vector<int>& allowed, int creator_cpu, int index) {
  const auto it = std::find(allowed.begin(), allowed.end(), creator_cpu);
  if (allowed.size() < 2 || it == allowed.end() || index <= 0) return -1;
  const size_t pos = size_t(it - allowed.begin());
  return allowed[(pos + size_t(index)) % allowed.size()];
}

ThreadPool::ThreadPool(int num_threads)
    : ranges_(size_t(std::max(1, num_threads))), creator_cpu_(CurrentCpu()) {
  for (int i = 1; i < std::max(1, num_threads); ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
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

bool ThreadPool::Claim(uint64_t call, int from, bool owner, int64_t* begin, int64_t* end) {
  std::atomic<uint64_t>& word = ranges_[size_t(from)].word;
  uint64_t w = word.load(std::memory_order_acquire);
  for (;;) {
    if ((w >> kCallShift) != (call & kCallMask)) return false;
    const int64_t b = int64_t((w >> kUnitBits) & kUnitMask), e = int64_t(w & kUnitMask);
    if (b >= e) return false;
    // Half of what is left (at least a unit): the owner from the front, so its pieces shrink as
    // its range runs out and what it has not started stays open, a thief from the back.
    const int64_t take = std::max<int64_t>(1, (e - b) / 2);
    uint64_t next;
    if (owner) {
      *begin = b;
      *end = b + take;
      next = Pack(call, *end, e);
    } else {
      *begin = e - take;
      *end = e;
      next = Pack(call, b, *begin);
    }
    // Acquires what the caller published with the range (fn_, n_, scale_, units_) through the
    // release sequence of its store.
    if (word.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return true;
    }
  }
}

void ThreadPool::RunPieces(uint64_t call, int index) {
  const int parts = num_threads();
  int64_t b, e, ran = 0;
  auto run = [&] {
    (*fn_)(b * scale_, std::min(n_, e * scale_));
    ran += e - b;
  };
  while (Claim(call, index, /*owner=*/true, &b, &e)) run();
  for (int k = 1; k < parts; ++k) {
    const int victim = (index + k) % parts;
    while (Claim(call, victim, /*owner=*/false, &b, &e)) run();
  }
  if (ran == 0) return;
  // Counted once per thread and call, not per piece: the counter's cache line moves between the
  // threads once each. Read before counting: once every unit is done, the caller may start
  // another call and overwrite units_.
  const int64_t units = units_;
  if (done_.fetch_add(ran, std::memory_order_acq_rel) + ran == units) {
    std::lock_guard<std::mutex> lock(mu_);  // the caller about to sleep cannot miss it
    done_cv_.notify_all();
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  std::lock_guard<std::mutex> call_lock(call_mu_);
  const int parts = num_threads();
  const uint64_t call = ++calls_;
  fn_ = &fn;
  n_ = n;
  scale_ = (n + kMaxUnits - 1) / kMaxUnits;
  units_ = (n + scale_ - 1) / scale_;
  done_.store(0, std::memory_order_relaxed);
  // Publishes fn_, n_, scale_, units_ and done_'s reset to whoever claims a piece of this call.
  for (int p = 0; p < parts; ++p) {
    int64_t b, e;
    Chunk(units_, parts, p, &b, &e);
    ranges_[size_t(p)].word.store(Pack(call, b, e), std::memory_order_release);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);  // a worker about to sleep cannot miss the increment
    generation_.store(call, std::memory_order_release);
  }
  work_cv_.notify_all();
  RunPieces(call, 0);
  // Pieces other threads still run. Engine layers are often only microseconds long: spin briefly
  // before sleeping, since a sleep/wake round trip would cost more than the work.
  for (int spin = 0; spin < kSpinIterations && done_.load(std::memory_order_acquire) != units_;
       ++spin) {
    SpinStep(spin);
  }
  if (done_.load(std::memory_order_acquire) != units_) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == units_; });
  }
  fn_ = nullptr;
}

void ThreadPool::WorkerLoop(int index) {
  StartAwayFromCreator(creator_cpu_, index);
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
    RunPieces(g, index);
  }
}

}  // namespace refit
