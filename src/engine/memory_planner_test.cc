#include "engine/memory_planner.h"

#include <gtest/gtest.h>

#include <random>

namespace refit::engine {
namespace {

bool Overlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first <= b.last && b.first <= a.last;
}

// Every pair of buffers live at the same time must occupy disjoint bytes.
void ExpectValid(const std::vector<BufferRequest>& reqs, const MemoryPlan& plan) {
  ASSERT_EQ(plan.offsets.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % 64, 0u);
    EXPECT_LE(plan.offsets[i] + reqs[i].bytes, plan.arena_bytes);
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      if (!Overlap(reqs[i], reqs[j])) continue;
      const bool disjoint = plan.offsets[i] + reqs[i].bytes <= plan.offsets[j] ||
                            plan.offsets[j] + reqs[j].bytes <= plan.offsets[i];
      EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j << " overlap";
    }
  }
}

TEST(MemoryPlanner, ChainReusesMemory) {
  // A chain a -> b -> c -> d: at most two values live at once, so two slots suffice.
  std::vector<BufferRequest> reqs = {{1000, -1, 0}, {1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}};
  MemoryPlan plan = PlanMemory(reqs);
  ExpectValid(reqs, plan);
  EXPECT_EQ(plan.arena_bytes, 2 * 1024u);
  EXPECT_EQ(plan.peak_live_bytes, 2 * 1024u);
}

TEST(MemoryPlanner, LiveTogetherNeverShare) {
  std::vector<BufferRequest> reqs = {{64, 0, 5}, {64, 1, 2}, {64, 2, 3}, {128, 0, 0}};
  MemoryPlan plan = PlanMemory(reqs);
  ExpectValid(reqs, plan);
}

TEST(MemoryPlanner, RandomLifetimesStayValidAndNearTheBound) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<BufferRequest> reqs;
    for (int i = 0; i < 60; ++i) {
      const int32_t first = int32_t(rng() % 50) - 1;
      reqs.push_back({uint64_t(1 + rng() % 100000), first, first + int32_t(rng() % 8)});
    }
    MemoryPlan plan = PlanMemory(reqs);
    ExpectValid(reqs, plan);
    EXPECT_GE(plan.arena_bytes, plan.peak_live_bytes);
    EXPECT_LE(plan.arena_bytes, 2 * plan.peak_live_bytes);
  }
}

TEST(MemoryPlanner, Empty) {
  MemoryPlan plan = PlanMemory({});
  EXPECT_EQ(plan.arena_bytes, 0u);
}

}  // namespace
}  // namespace refit::engine
