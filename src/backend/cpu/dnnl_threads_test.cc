// oneDNN runs single-threaded on every thread of the pool (cpu_backend.h): the tactics that run
// parts of a convolution as pool chunks leave each thread that ran a part at one OpenMP thread, so
// no worker forks an OpenMP team of its own from inside the pool.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/tactic_conv_test_util.h"
#include "backend/cpu/tactic_test_util.h"
#include "base/thread_pool.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using namespace conv_testing;  // NOLINT(build/namespaces): the cases' vocabulary

// The calling thread's OpenMP thread count; 0 when OpenMP is not loaded.
int OpenMpMaxThreads() {
  using GetFn = int (*)();
  static const GetFn get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  return get != nullptr ? get() : 0;
}

// Runs tactic `variant` of case `c` `runs` times on `pool`. False (with a failure) when the tactic
// is not listed or does not run.
bool RunTactic(const LayerCase& c, const std::string& variant, ThreadPool* pool, int runs) {
  std::vector<Tensor> expected;
  if (!testing::ReferenceOutputs(c, &expected)) return false;
  const backend::LayerDesc desc = DescOf(c, {expected[0].shape()});
  std::unique_ptr<backend::Backend> cpu = CreateCpuBackend();
  auto tactic = cpu->FindTactic(desc, variant);
  EXPECT_TRUE(tactic.ok()) << variant << ": " << tactic.status().ToString();
  if (!tactic.ok()) return false;
  std::vector<Tensor> packed, blocked;
  backend::KernelIo io;
  if (!testing::TacticInputs(**tactic, c, desc, &packed, &blocked, &io)) return false;
  auto kernel = (*tactic)->Instantiate();
  EXPECT_TRUE(kernel.ok()) << kernel.status().ToString();
  if (!kernel.ok()) return false;
  testing::AlignedBuffer ws((*kernel)->workspace_bytes() + 64);
  Tensor out = std::move(Tensor::Create(expected[0].dtype(), expected[0].shape())).value();
  io.outputs = {&out};
  io.workspace = ws.data();
  io.pool = pool;
  for (int r = 0; r < runs; ++r) {
    Status run = (*kernel)->Run(io);
    EXPECT_TRUE(run.ok()) << run.ToString();
    if (!run.ok()) return false;
  }
  const Tensor plain = (*tactic)->OutputBlock() > 0
                           ? testing::Reblock(out, (*tactic)->OutputBlock(), false)
                           : out.Clone();
  EXPECT_LE(testing::RelError(plain, expected[0]), 1e-5);
  return true;
}

TEST(DnnlThreadsTest, PartsOnThePoolLeaveEveryThreadAtOneOpenMpThread) {
  int fresh = 0;  // what a new thread (a pool worker) starts with
  std::thread([&] { fresh = OpenMpMaxThreads(); }).join();
  if (fresh <= 1) {
    GTEST_SKIP() << "a new thread's OpenMP thread count is " << fresh
                 << " here: no worker could fork a team";
  }
  if (!HasAvx2()) GTEST_SKIP() << "oneDNN picks plain layouts here: no split variants";
  const ConvSpec batch = {.n = 4, .c = 32, .h = 14, .w = 14, .m = 32};
  const ConvSpec one = {.n = 1, .c = 32, .h = 28, .w = 28, .m = 64};
  const std::pair<ConvSpec, std::string> cases[] = {{batch, "conv_dnnl/blocked_n2"},
                                                    {one, "conv_dnnl/blocked_oc2"}};
  for (const auto& [spec, variant] : cases) {
    SCOPED_TRACE(variant);
    ThreadPool pool(2);
    // A worker that is late for a call leaves its part to the caller (and keeps OpenMP's default,
    // harmlessly: it ran no oneDNN). So: rounds of runs, each followed by every thread of the pool
    // reporting its count, until a round where both threads report one. Without the per-thread
    // setting no round ever does; with it, only a machine too loaded to let the worker take a
    // single part in 20 rounds fails.
    bool settled = false;
    int last_max = 0;
    for (int round = 0; round < 20 && !settled; ++round) {
      ASSERT_TRUE(RunTactic(MakeConv(spec), variant, &pool, 20));
      std::mutex mu;
      std::set<std::thread::id> threads;
      int max_count = 0;
      pool.ParallelFor(32, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          std::this_thread::sleep_for(std::chrono::microseconds(300));
          std::lock_guard<std::mutex> lock(mu);
          threads.insert(std::this_thread::get_id());
          max_count = std::max(max_count, OpenMpMaxThreads());
        }
      });
      last_max = max_count;
      settled = threads.size() == 2 && max_count == 1;
    }
    EXPECT_TRUE(settled) << "a pool thread still reports " << last_max
                         << " OpenMP threads: one that ran a oneDNN part would fork a team";
  }
}

}  // namespace
}  // namespace refit::cpu
