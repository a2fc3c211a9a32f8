#include <gtest/gtest.h>

#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

// producer(x) -> BatchNormalization(c channels) -> Relu -> y, with random weights.
ir::Graph ProducerBn(ir::Node producer, Shape w_shape, bool bias, int64_t c,
                     std::vector<int64_t> x_dims) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", x_dims);
  g.weights.emplace("p.weight", RandomTensor(w_shape, 1));
  producer.inputs = {"x", "p.weight"};
  if (bias) {
    g.weights.emplace("p.bias", RandomTensor(Shape{c}, 2));
    producer.inputs.push_back("p.bias");
  }
  producer.outputs = {"h"};
  producer.name = "producer";
  g.weights.emplace("bn.weight", RandomTensor(Shape{c}, 3, 0.5f, 2.f));
  g.weights.emplace("bn.bias", RandomTensor(Shape{c}, 4));
  g.weights.emplace("bn.running_mean", RandomTensor(Shape{c}, 5));
  g.weights.emplace("bn.running_var", RandomTensor(Shape{c}, 6, 0.1f, 3.f));
  g.nodes.push_back(std::move(producer));
  g.nodes.push_back(MakeNode("BatchNormalization",
                             {"h", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"},
                             {"b"}, "bn"));
  g.nodes.push_back(MakeNode("Relu", {"b"}, {"y"}));
  AddOutput(g, "y");
  return g;
}

// Folds, checks the BN is gone and the sources untouched, and compares outputs on random x.
void CheckFolds(const ir::Graph& before, const std::vector<int64_t>& x_dims) {
  ir::Graph after = testing::CloneGraph(before);
  PassReport report;
  ASSERT_TRUE(FoldBatchNormPass(after, &report).ok());
  ASSERT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  EXPECT_EQ(report.Count("fold_batchnorm"), 1) << report.ToString();
  EXPECT_EQ(after.OpCounts().count("BatchNormalization"), 0u);
  EXPECT_EQ(after.nodes.size(), before.nodes.size() - 1);
  EXPECT_EQ(after.weights.size(), before.weights.size());  // sources stay for refit
  ASSERT_EQ(after.derived_weights.size(), 2u);
  const ir::Node& p = after.nodes[0];
  ASSERT_EQ(p.inputs.size(), 3u);
  EXPECT_EQ(p.outputs[0], "b");
  EXPECT_EQ(after.derived_weights.at(p.inputs[1]).ToString().rfind("bn_scale(", 0) == 0 ||
                after.derived_weights.at(p.inputs[1]).ToString().rfind("reshape(", 0) == 0,
            true)
      << after.derived_weights.at(p.inputs[1]).ToString();
  EXPECT_EQ(after.derived_weights.at(p.inputs[2]).ToString().rfind("bn_bias(", 0), 0u);
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape(x_dims), 7));
}

TEST(FoldBatchNormTest, GroupedConvWithBias) {
  ir::Node conv = MakeNode("Conv", {}, {"h"});
  testing::SetInt(conv, "group", 2);
  testing::SetInts(conv, "pads", {1, 1, 1, 1});
  ir::Graph g = ProducerBn(std::move(conv), {6, 2, 3, 3}, true, 6, {1, 4, 5, 5});
  CheckFolds(g, {1, 4, 5, 5});
}

TEST(FoldBatchNormTest, ConvWithoutBias) {
  ir::Graph g = ProducerBn(MakeNode("Conv", {}, {"h"}), {5, 3, 1, 1}, false, 5, {2, 3, 4, 4});
  CheckFolds(g, {2, 3, 4, 4});
  ir::Graph after = testing::CloneGraph(g);
  ASSERT_TRUE(FoldBatchNormPass(after, nullptr).ok());
  EXPECT_EQ(after.derived_weights.at(after.nodes[0].inputs[1]).ToString(),
            "bn_scale(p.weight, bn.weight, bn.running_var, eps=1e-05, axis=0)");
}

TEST(FoldBatchNormTest, ConvTransposeUngroupedAndGrouped) {
  ir::Graph g1 =
      ProducerBn(MakeNode("ConvTranspose", {}, {"h"}), {4, 6, 3, 3}, true, 6, {1, 4, 3, 3});
  CheckFolds(g1, {1, 4, 3, 3});
  ir::Node ct = MakeNode("ConvTranspose", {}, {"h"});
  testing::SetInt(ct, "group", 2);
  testing::SetInts(ct, "strides", {2, 2});
  ir::Graph g2 = ProducerBn(std::move(ct), {4, 3, 2, 2}, false, 6, {1, 4, 3, 3});
  CheckFolds(g2, {1, 4, 3, 3});
}

TEST(FoldBatchNormTest, GemmBothLayouts) {
  ir::Node t = MakeNode("Gemm", {}, {"h"});
  testing::SetInt(t, "transB", 1);
  CheckFolds(ProducerBn(std::move(t), {4, 5}, true, 4, {3, 5}), {3, 5});
  CheckFolds(ProducerBn(MakeNode("Gemm", {}, {"h"}), {5, 4}, false, 4, {3, 5}), {3, 5});
}

TEST(FoldBatchNormTest, KeepsBnWhenProducerOutputHasAnotherReader) {
  ir::Graph g = ProducerBn(MakeNode("Conv", {}, {"h"}), {5, 3, 1, 1}, true, 5, {1, 3, 2, 2});
  g.nodes.push_back(MakeNode("Relu", {"h"}, {"h2"}));
  AddOutput(g, "h2");
  PassReport report;
  ASSERT_TRUE(FoldBatchNormPass(g, &report).ok());
  EXPECT_EQ(g.OpCounts()["BatchNormalization"], 1);
  EXPECT_EQ(report.Count("fold_batchnorm"), 0);
  EXPECT_EQ(report.Count("fold_batchnorm.skipped"), 1);
  EXPECT_TRUE(g.derived_weights.empty());
}

// Conv -> BN -> BN: the second fold builds on the first one's derived weights (recipes nest), and
// eliminate_dead_code then drops the intermediate derived weights.
TEST(FoldBatchNormTest, ChainedBatchNormsNestRecipes) {
  ir::Graph before = ProducerBn(MakeNode("Conv", {}, {"h"}), {5, 3, 1, 1}, true, 5, {1, 3, 2, 2});
  before.nodes.back().inputs = {"b2"};  // Relu now reads the second BN
  before.nodes.insert(
      before.nodes.end() - 1,
      MakeNode("BatchNormalization",
               {"b", "bn.bias", "bn.weight", "bn.running_var", "bn.running_var"}, {"b2"}, "bn2"));
  ir::Graph after = testing::CloneGraph(before);
  PassReport report;
  ASSERT_TRUE(FoldBatchNormPass(after, &report).ok());
  EXPECT_EQ(report.Count("fold_batchnorm"), 2) << report.ToString();
  ASSERT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  ASSERT_EQ(after.nodes.size(), 2u);
  EXPECT_EQ(after.derived_weights.size(), 2u);
  const std::string w = after.derived_weights.at(after.nodes[0].inputs[1]).ToString();
  EXPECT_EQ(w.rfind("bn_scale(bn_scale(p.weight, ", 0), 0u) << w;
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{1, 3, 2, 2}, 8));
}

// Refit: new source weights (gamma, conv weight) in the folded graph give the same outputs as the
// unfolded graph with those weights, because the executor re-evaluates the recipes.
TEST(FoldBatchNormTest, RecipesRecomputeFromNewSources) {
  ir::Graph before = ProducerBn(MakeNode("Conv", {}, {"h"}), {5, 3, 3, 3}, true, 5, {1, 3, 6, 6});
  ir::Graph after = testing::CloneGraph(before);
  ASSERT_TRUE(FoldBatchNormPass(after, nullptr).ok());
  for (ir::Graph* g : {&before, &after}) {
    g->weights["bn.weight"] = RandomTensor(Shape{5}, 11, -2.f, 2.f);
    g->weights["p.weight"] = RandomTensor(Shape{5, 3, 3, 3}, 12);
    g->weights["bn.running_var"] = RandomTensor(Shape{5}, 13, 0.01f, 0.2f);
  }
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{1, 3, 6, 6}, 14));
}

}  // namespace
}  // namespace refit::passes
