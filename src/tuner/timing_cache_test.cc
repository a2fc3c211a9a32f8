// TimingCache keys: what a tactic's speed depends on, the timing method included, and never a
// weight value.
#include "tuner/timing_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace refit::tuner {
namespace {

struct GemmLayer {
  ir::Node node;
  backend::LayerDesc desc;
  GemmLayer() {
    node.name = "fc";
    node.op_type = "Gemm";
    node.inputs = {"x", "w"};
    node.outputs = {"y"};
    desc.node = &node;
    desc.opset = 17;
    desc.inputs = {{DataType::kF32, Shape{4, 8}, false}, {DataType::kF32, Shape{16, 8}, false}};
    desc.weight = {false, true};
    desc.outputs = {{DataType::kF32, Shape{4, 16}, false}};
  }
};

TEST(TimingCacheKeyTest, RecordsShapesThreadsBackendAndMethod) {
  GemmLayer a, b;
  const std::string key = TimingCache::Key(a.desc, 1, "cpu:avx2", "cold_weights");
  EXPECT_EQ(key, TimingCache::Key(b.desc, 1, "cpu:avx2", "cold_weights"));
  // Timings taken with hot weights are not reused for cold-weight tuning, or the reverse.
  EXPECT_NE(key, TimingCache::Key(a.desc, 1, "cpu:avx2", "hot"));
  EXPECT_NE(key, TimingCache::Key(a.desc, 2, "cpu:avx2", "cold_weights"));
  EXPECT_NE(key, TimingCache::Key(a.desc, 1, "cpu:avx512", "cold_weights"));
  b.desc.inputs[0].shape = Shape{5, 8};
  EXPECT_NE(key, TimingCache::Key(b.desc, 1, "cpu:avx2", "cold_weights"));
}

}  // namespace
}  // namespace refit::tuner
