// Refit while other threads run the engine: each run sees exactly one weight set. Also run under
// ThreadSanitizer in CI (ctest label "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "refit/refit_test_util.h"
#include "refit/refitter.h"

namespace refit::refitter {
namespace {

using namespace testing;  // NOLINT

TEST(RefitterConcurrency, RefitsDuringRunsAreAtomic) {
  const ir::Graph g1 = HandGraph();
  const ir::Graph g2 = WithNewWeights(g1, 800);
  const TensorMap inputs = HandInputs();
  std::string bytes;
  ASSERT_NE(BuildAndLoad(g1, FastOptions(), &bytes), nullptr);
  engine::EngineOptions two;
  two.threads = 2;  // runs share the engine's pool too
  auto e = MustOpen(engine::Engine::FromBytes(bytes, "hand", two));
  ASSERT_NE(e, nullptr);
  const TensorMap out1 = RunOk(*e, inputs);
  RefitterOptions ro;
  ro.threads = 2;
  Refitter r(e.get(), ro);
  SetAll(r, g2);
  ASSERT_TRUE(r.Apply().ok());
  const TensorMap out2 = RunOk(*e, inputs);
  ASSERT_FALSE(SameBytes(out1, out2));

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, runs{0}, saw1{0}, saw2{0};
  std::vector<std::thread> runners;
  for (int t = 0; t < 3; ++t) {
    runners.emplace_back([&] {
      while (!stop.load()) {
        auto out = e->Run(Views(inputs));
        ++runs;
        if (!out.ok()) {
          ++bad;
        } else if (SameBytes(*out, out1)) {
          ++saw1;
        } else if (SameBytes(*out, out2)) {
          ++saw2;
        } else {
          ++bad;
        }
      }
    });
  }
  constexpr int kRefits = 60;
  for (int i = 0; i < kRefits; ++i) {
    SetAll(r, i % 2 == 0 ? g1 : g2);
    auto report = r.Apply();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
  }
  while (runs.load() < 20) std::this_thread::yield();
  stop = true;
  for (std::thread& th : runners) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(saw1.load() + saw2.load(), 0);
  // kRefits is even: the last refit set g2's weights.
  ExpectBitEqual(out2, RunOk(*e, inputs));
}

// Two refitters changing different weights at once: neither update is lost.
TEST(RefitterConcurrency, ConcurrentRefittersKeepBothUpdates) {
  const ir::Graph g = HandGraph();
  const ir::Graph g2 = WithNewWeights(g, 900);
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  std::atomic<int> failures{0};
  auto refit_loop = [&](const std::vector<std::string>& names) {
    Refitter r(e.get(), RefitterOptions{1, ""});
    for (int i = 0; i < 40; ++i) {
      if (!SetFrom(r, i % 2 == 0 ? g : g2, names)) ++failures;
      if (!r.Apply().ok()) ++failures;
    }
    if (!SetFrom(r, g2, names)) ++failures;
    if (!r.Apply().ok()) ++failures;
  };
  std::thread a(refit_loop, std::vector<std::string>{"fc.w"});
  std::thread b(refit_loop, std::vector<std::string>{"fc.b", "scale"});
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  ir::Graph expected = CloneGraph(g);
  for (const char* n : {"fc.w", "fc.b", "scale"}) {
    expected.weights.at(n) = g2.weights.at(n).Clone();
  }
  ExpectClose(Reference(expected, inputs), RunOk(*e, inputs));
}

}  // namespace
}  // namespace refit::refitter
