// CacheKey: everything that decides a build changes the key; float weight values never do.
#include <gtest/gtest.h>

#include "cache/engine_cache.h"
#include "engine/engine_test_util.h"

namespace refit::cache {
namespace {

using engine::BuildOptions;
using engine::EngineMode;
using namespace engine::testing;  // NOLINT(google-build-using-namespace): test helpers

ir::Node* FindNode(ir::Graph& g, const std::string& name) {
  for (ir::Node& n : g.nodes) {
    if (n.name == name) return &n;
  }
  ADD_FAILURE() << "no node '" << name << "'";
  return nullptr;
}

// HandGraph with its flatten shape as an int64 weight (as exporters write it) instead of a
// Constant node.
ir::Graph WithShapeWeight(std::vector<int64_t> shape) {
  ir::Graph g = HandGraph();
  for (auto it = g.nodes.begin(); it != g.nodes.end(); ++it) {
    if (it->name == "shape_const") {
      g.nodes.erase(it);
      break;
    }
  }
  g.weights.emplace("flat_shape", Tensor::FromVector<int64_t>(Shape{2}, shape));
  FindNode(g, "flatten")->inputs[1] = "flat_shape";
  return g;
}

TEST(CacheKeyTest, DigestOnceThenKeyPerShapesIsTheSameKey) {
  const ir::Graph g = HandGraph();
  const GraphDigest digest = DigestGraph(g);
  EXPECT_EQ(digest.hex.size(), 32u);
  engine::BuildOptions batch2 = FastOptions();
  batch2.input_shapes["x"] = {2, 3, 6, 6};
  for (const engine::BuildOptions& o : {FastOptions(), batch2}) {
    EXPECT_EQ(CacheKey(digest, g, o), CacheKey(g, o));
  }
  EXPECT_NE(CacheKey(digest, g, batch2), CacheKey(digest, g, FastOptions()));
  // Weight values do not move the digest; structure does.
  EXPECT_EQ(DigestGraph(WithNewWeights(g, 3)).hex, digest.hex);
  ir::Graph renamed = CloneGraph(g);
  renamed.outputs[0].name = "other";
  EXPECT_NE(DigestGraph(renamed).hex, digest.hex);
}

TEST(CacheKeyTest, IsThirtyTwoHexDigitsAndDeterministic) {
  const std::string key = CacheKey(HandGraph(), FastOptions());
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << key;
  EXPECT_EQ(CacheKey(HandGraph(), FastOptions()), key);
}

TEST(CacheKeyTest, ShapeInferenceAndTheCheckerDoNotChangeIt) {
  // `refit build --cache` looks up with an unchecked import (no shape inference), MutableModel with
  // a checked one: both must find the same entries.
  onnx_frontend::ImportOptions unchecked;
  unchecked.check_model = unchecked.infer_shapes = false;
  auto checked_graph = onnx_frontend::ImportOnnxFile(TinyCnnDir() + "/model.onnx");
  auto unchecked_graph = onnx_frontend::ImportOnnxFile(TinyCnnDir() + "/model.onnx", unchecked);
  ASSERT_TRUE(checked_graph.ok() && unchecked_graph.ok());
  ASSERT_NE(checked_graph->value_infos.size(), unchecked_graph->value_infos.size());
  EXPECT_EQ(CacheKey(*checked_graph, FastOptions()), CacheKey(*unchecked_graph, FastOptions()));
}

TEST(CacheKeyTest, FloatWeightValuesDoNotChangeIt) {
  const ir::Graph g = HandGraph();
  const ir::Graph other = WithNewWeights(g, 1234);
  ASSERT_FALSE(AllClose(*g.FindWeight("conv.w"), *other.FindWeight("conv.w"), 1e-3));
  EXPECT_EQ(CacheKey(g, FastOptions()), CacheKey(other, FastOptions()));
}

TEST(CacheKeyTest, IntegerWeightValuesChangeIt) {
  const std::string a = CacheKey(WithShapeWeight({1, 144}), FastOptions());
  EXPECT_EQ(a, CacheKey(WithShapeWeight({1, 144}), FastOptions()));
  EXPECT_NE(a, CacheKey(WithShapeWeight({-1, 144}), FastOptions()));
}

TEST(CacheKeyTest, StructureChangesIt) {
  const ir::Graph base = HandGraph();
  const std::string key = CacheKey(base, FastOptions());

  ir::Graph rewired = CloneGraph(base);
  FindNode(rewired, "add_scale")->inputs[0] = "z";  // was "zs": same ops, another edge
  EXPECT_NE(CacheKey(rewired, FastOptions()), key) << "edge rewired";

  ir::Graph reshaped = CloneGraph(base);
  reshaped.weights.at("fc.b") = RandomTensor(Shape{1, 8}, 5);
  EXPECT_NE(CacheKey(reshaped, FastOptions()), key) << "weight shape";

  ir::Graph attr = CloneGraph(base);
  SetInts(*FindNode(attr, "conv"), "pads", {0, 0, 0, 0});
  EXPECT_NE(CacheKey(attr, FastOptions()), key) << "attribute";

  ir::Graph input = CloneGraph(base);
  input.inputs[0].dims = {1, 3, 8, 8};
  EXPECT_NE(CacheKey(input, FastOptions()), key) << "input shape";

  ir::Graph renamed = CloneGraph(base);
  auto node = renamed.weights.extract("fc.b");
  node.key() = "fc.bias";
  renamed.weights.insert(std::move(node));
  FindNode(renamed, "fc_add")->inputs[1] = "fc.bias";
  EXPECT_NE(CacheKey(renamed, FastOptions()), key) << "source weight renamed (refit by name)";
}

TEST(CacheKeyTest, BuildSettingsChangeItModeDoesNot) {
  const ir::Graph g = HandGraph();
  const std::string key = CacheKey(g, FastOptions());
  BuildOptions threads = FastOptions();
  threads.threads = 2;
  EXPECT_NE(CacheKey(g, threads), key) << "threads";
  BuildOptions runs = FastOptions();
  runs.min_timing_runs = 2;
  EXPECT_NE(CacheKey(g, runs), key) << "min_timing_runs";
  BuildOptions ms = FastOptions();
  ms.min_timing_ms = 0.5;
  EXPECT_NE(CacheKey(g, ms), key) << "min_timing_ms";
  BuildOptions plans = FastOptions();
  plans.plan_candidates = 1;
  EXPECT_NE(CacheKey(g, plans), key) << "plan_candidates";
  BuildOptions tactics = FastOptions();
  tactics.tactic_margin = 0.5;
  EXPECT_NE(CacheKey(g, tactics), key) << "tactic_margin";
  // Entries are stripped and serve both modes; keeping sources is done after the lookup.
  BuildOptions stripped = FastOptions(EngineMode::kStripped);
  stripped.keep_sources = true;
  stripped.timing_cache_path = "/tmp/some.timing";
  EXPECT_EQ(CacheKey(g, stripped), key);
}

TEST(CacheKeyTest, InputShapesAsTheBuilderFixesThem) {
  ir::Graph g = HandGraph();
  g.inputs[0].dims = {-1, 3, 6, 6};  // symbolic batch
  g.inputs[0].dim_params = {"batch", "", "", ""};
  const std::string unset = CacheKey(g, FastOptions());
  BuildOptions one = FastOptions();
  one.input_shapes["x"] = {1, 3, 6, 6};
  EXPECT_EQ(CacheKey(g, one), unset) << "a symbolic dim not given is built as 1";
  BuildOptions four = FastOptions();
  four.input_shapes["x"] = {4, 3, 6, 6};
  EXPECT_NE(CacheKey(g, four), unset);
}

TEST(CacheKeyTest, SampleInputValuesChangeIt) {
  const ir::Graph g = HandGraph();
  const Tensor a = RandomTensor(Shape{1, 3, 6, 6}, 1);
  const Tensor b = RandomTensor(Shape{1, 3, 6, 6}, 2);
  BuildOptions with_a = FastOptions();
  with_a.sample_inputs["x"] = a.view();
  BuildOptions with_b = FastOptions();
  with_b.sample_inputs["x"] = b.view();
  EXPECT_NE(CacheKey(g, with_a), CacheKey(g, FastOptions()));
  EXPECT_NE(CacheKey(g, with_a), CacheKey(g, with_b));
}

}  // namespace
}  // namespace refit::cache
