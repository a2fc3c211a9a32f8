// MemoryTier: instances over stored engines, constants only, LRU bound.
#include "cache/memory_tier.h"

#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace refit::cache {
namespace {

using engine::Engine;
using engine::EngineOptions;
using namespace engine::testing;  // NOLINT(google-build-using-namespace): test helpers

std::unique_ptr<Engine> Instance(MemoryTier& tier, const std::string& key) {
  auto e = tier.Instance(key, EngineOptions{});
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(MemoryTier, InstancesHoldConstantsOnlyAndRefitToTheirOwnWeights) {
  MemoryTier tier(4);
  const ir::Graph g = HandGraph();
  auto built = BuildAndLoad(g, FastOptions());
  ASSERT_NE(built, nullptr);
  EXPECT_EQ(Instance(tier, "k"), nullptr);  // nothing stored yet
  ASSERT_TRUE(tier.Put("k", *built).ok());
  EXPECT_EQ(tier.size(), 1);
  auto e = Instance(tier, "k");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(&e->plan(), &built->plan());
  const auto& slots = e->weights()->slots;
  for (size_t s = 0; s < slots.size(); ++s) {
    // The stored engine keeps constants and drops every refittable slot.
    EXPECT_EQ(slots[s] == nullptr, e->plan().slots[s].refittable) << e->plan().slots[s].name;
  }
  EXPECT_FALSE(e->Run(Views(HandInputs())).ok());  // no weights until refitted
  // The engine it came from is unchanged.
  EXPECT_TRUE(built->weights()->complete());
  const ir::Graph g2 = WithNewWeights(g, 5);
  auto set = e->CreateWeightSet(LookupIn(g2));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_TRUE(e->SetWeights(*set).ok());
  ExpectClose(Reference(g2, HandInputs()), RunOk(*e, HandInputs()));
  // Instances outlive the stored engine and the engine it was made from.
  built.reset();
  tier.Clear();
  EXPECT_EQ(tier.size(), 0);
  ExpectClose(Reference(g2, HandInputs()), RunOk(*e, HandInputs()));
}

TEST(MemoryTier, KeepsTheMostRecentlyUsedWithinCapacity) {
  MemoryTier tier(2);
  auto built = BuildAndLoad(HandGraph(), FastOptions());
  ASSERT_NE(built, nullptr);
  ASSERT_TRUE(tier.Put("a", *built).ok());
  ASSERT_TRUE(tier.Put("b", *built).ok());
  ASSERT_NE(Instance(tier, "a"), nullptr);  // a is now more recent than b
  ASSERT_TRUE(tier.Put("c", *built).ok());  // b goes
  EXPECT_EQ(tier.size(), 2);
  EXPECT_NE(Instance(tier, "a"), nullptr);
  EXPECT_EQ(Instance(tier, "b"), nullptr);
  EXPECT_NE(Instance(tier, "c"), nullptr);
  ASSERT_TRUE(tier.Put("c", *built).ok());  // replaces, evicts nothing
  EXPECT_EQ(tier.size(), 2);
  tier.SetCapacity(0);
  EXPECT_EQ(tier.size(), 0);
  ASSERT_TRUE(tier.Put("d", *built).ok());
  EXPECT_EQ(tier.size(), 0);
  EXPECT_EQ(Instance(tier, "d"), nullptr);
}

}  // namespace
}  // namespace refit::cache
