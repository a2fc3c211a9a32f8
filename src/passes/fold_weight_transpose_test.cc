#include <gtest/gtest.h>

#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

// PyTorch's export of nn.Linear without constant folding: MatMul(x, Transpose(weight)) + bias.
ir::Graph LinearExport(std::vector<int64_t> x_dims) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", x_dims);
  g.weights.emplace("fc.weight", RandomTensor(Shape{4, 5}, 1));
  g.weights.emplace("fc.bias", RandomTensor(Shape{4}, 2));
  g.nodes.push_back(MakeNode("Transpose", {"fc.weight"}, {"wt"}, "t"));
  g.nodes.push_back(MakeNode("MatMul", {"x", "wt"}, {"m"}, "mm"));
  g.nodes.push_back(MakeNode("Add", {"m", "fc.bias"}, {"y"}, "add"));
  AddOutput(g, "y");
  return g;
}

TEST(FoldWeightTransposeTest, TransposeBecomesDerivedWeight) {
  ir::Graph before = LinearExport({2, 3, 5});
  ir::Graph after = testing::CloneGraph(before);
  PassReport report;
  ASSERT_TRUE(FoldWeightTransposePass(after, &report).ok());
  ASSERT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  EXPECT_EQ(report.Count("fold_weight_transpose"), 1);
  EXPECT_EQ(after.OpCounts().count("Transpose"), 0u);
  ASSERT_TRUE(after.derived_weights.count("wt"));
  EXPECT_EQ(after.derived_weights.at("wt").ToString(), "transpose(fc.weight, perm=[1,0])");
  EXPECT_TRUE(after.weights.count("fc.weight"));
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{2, 3, 5}, 3));
}

TEST(FoldWeightTransposeTest, ThenMatMulAddBecomesGemmAndRefits) {
  ir::Graph before = LinearExport({3, 5});
  ir::Graph after = testing::CloneGraph(before);
  ASSERT_TRUE(RunDefaultPasses(after, nullptr).ok());
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].op_type, "Gemm");
  // New source weight: the derived transpose follows it.
  before.weights["fc.weight"] = RandomTensor(Shape{4, 5}, 9);
  after.weights["fc.weight"] = RandomTensor(Shape{4, 5}, 9);
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{3, 5}, 4));
}

TEST(FoldWeightTransposeTest, KeepsTransposeWithOtherReaders) {
  ir::Graph g = LinearExport({3, 5});
  g.nodes.push_back(MakeNode("Relu", {"wt"}, {"r"}));
  AddOutput(g, "r");
  ASSERT_TRUE(FoldWeightTransposePass(g, nullptr).ok());
  EXPECT_EQ(g.OpCounts()["Transpose"], 1);
  EXPECT_TRUE(g.derived_weights.empty());
}

}  // namespace
}  // namespace refit::passes
