#include <gtest/gtest.h>

#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

// MatMul(x, w) + bias -> Tanh -> y; `bias_first` puts the bias on the Add's left.
ir::Graph MatMulAdd(std::vector<int64_t> x_dims, Shape bias_shape, bool bias_first) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", x_dims);
  g.weights.emplace("fc.weight_t", RandomTensor(Shape{5, 4}, 1));
  g.weights.emplace("fc.bias", RandomTensor(bias_shape, 2));
  g.nodes.push_back(MakeNode("MatMul", {"x", "fc.weight_t"}, {"m"}, "mm"));
  g.nodes.push_back(MakeNode("Add",
                             bias_first ? std::vector<std::string>{"fc.bias", "m"}
                                        : std::vector<std::string>{"m", "fc.bias"},
                             {"a"}, "add"));
  g.nodes.push_back(MakeNode("Tanh", {"a"}, {"y"}));
  AddOutput(g, "y");
  return g;
}

TEST(MatMulAddToGemmTest, TwoDimensionalBecomesGemm) {
  for (bool bias_first : {false, true}) {
    for (Shape bias_shape : {Shape{4}, Shape{1, 4}}) {
      ir::Graph before = MatMulAdd({3, 5}, bias_shape, bias_first);
      ir::Graph after = testing::CloneGraph(before);
      PassReport report;
      ASSERT_TRUE(MatMulAddToGemmPass(after, &report).ok());
      ASSERT_TRUE(after.Validate().ok());
      EXPECT_EQ(report.Count("matmul_add_to_gemm"), 1);
      ASSERT_EQ(after.nodes.size(), 2u);
      EXPECT_EQ(after.nodes[0].op_type, "Gemm");
      EXPECT_EQ(after.nodes[0].inputs, (std::vector<std::string>{"x", "fc.weight_t", "fc.bias"}));
      EXPECT_EQ(after.nodes[0].outputs, (std::vector<std::string>{"a"}));
      testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{3, 5}, 3));
    }
  }
}

TEST(MatMulAddToGemmTest, LeavesHigherRankAndNonWeightBiasAlone) {
  ir::Graph g3 = MatMulAdd({2, 3, 5}, Shape{4}, false);
  ASSERT_TRUE(MatMulAddToGemmPass(g3, nullptr).ok());
  EXPECT_EQ(g3.OpCounts()["MatMul"], 1);
  EXPECT_EQ(g3.OpCounts().count("Gemm"), 0u);
  // Bias with the wrong length: stays.
  ir::Graph bad = MatMulAdd({3, 5}, Shape{1}, false);
  ASSERT_TRUE(MatMulAddToGemmPass(bad, nullptr).ok());
  EXPECT_EQ(bad.OpCounts()["MatMul"], 1);
  // MatMul output read twice: stays.
  ir::Graph shared = MatMulAdd({3, 5}, Shape{4}, false);
  shared.nodes.push_back(MakeNode("Relu", {"m"}, {"r"}));
  AddOutput(shared, "r");
  ASSERT_TRUE(MatMulAddToGemmPass(shared, nullptr).ok());
  EXPECT_EQ(shared.OpCounts()["MatMul"], 1);
}

}  // namespace
}  // namespace refit::passes
