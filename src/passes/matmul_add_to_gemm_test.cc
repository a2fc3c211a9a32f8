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

// x of rank 3 and 4 with static dims: a Gemm over x's rows between two Reshapes, the outputs
// those of the MatMul and Add (the reference executor runs both graphs).
TEST(MatMulAddToGemmTest, HigherRankBecomesGemmOverRows) {
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{2, 3, 5}, std::vector<int64_t>{2, 1, 3, 5}}) {
    for (bool bias_first : {false, true}) {
      ir::Graph before = MatMulAdd(dims, Shape{4}, bias_first);
      ir::Graph after = testing::CloneGraph(before);
      PassReport report;
      ASSERT_TRUE(MatMulAddToGemmPass(after, &report).ok());
      ASSERT_TRUE(after.Validate().ok()) << after.Validate().ToString();
      EXPECT_EQ(report.Count("matmul_add_to_gemm"), 1);
      // Constant, Reshape, Gemm, Constant, Reshape, Tanh.
      ASSERT_EQ(after.nodes.size(), 6u);
      EXPECT_EQ(after.OpCounts()["Constant"], 2);
      EXPECT_EQ(after.OpCounts()["Reshape"], 2);
      EXPECT_EQ(after.OpCounts().count("MatMul"), 0u);
      EXPECT_EQ(after.weights.size(), before.weights.size());  // no weight added
      const ir::Node& in = after.nodes[1];
      const ir::Node& gemm = after.nodes[2];
      const ir::Node& back = after.nodes[4];
      EXPECT_EQ(in.op_type, "Reshape");
      EXPECT_EQ(gemm.op_type, "Gemm");
      EXPECT_EQ(back.op_type, "Reshape");
      EXPECT_EQ(back.outputs, (std::vector<std::string>{"a"}));
      EXPECT_EQ(gemm.inputs, (std::vector<std::string>{in.outputs[0], "fc.weight_t", "fc.bias"}));
      EXPECT_EQ(gemm.fused, (std::vector<std::string>{"mm"}));
      // The shapes: [rows, K] in, [..., M, N] back.
      auto shape_of = [&](const ir::Node& constant) {
        const Tensor& t = *constant.attrs.Find("value")->t;
        return std::vector<int64_t>(t.data_as<int64_t>(), t.data_as<int64_t>() + t.NumElements());
      };
      EXPECT_EQ(shape_of(after.nodes[0]), (std::vector<int64_t>{6, 5}));  // 2 x 3, 2 x 1 x 3 rows
      std::vector<int64_t> out_dims(dims.begin(), dims.end() - 1);
      out_dims.push_back(4);
      EXPECT_EQ(shape_of(after.nodes[3]), out_dims);
      Shape x_shape(dims);
      testing::ExpectSameOutputs(before, after, "x", RandomTensor(x_shape, 3));
    }
  }
  // A dynamic dim: stays a MatMul.
  ir::Graph dynamic = MatMulAdd({-1, 3, 5}, Shape{4}, false);
  ASSERT_TRUE(MatMulAddToGemmPass(dynamic, nullptr).ok());
  EXPECT_EQ(dynamic.OpCounts()["MatMul"], 1);
  EXPECT_EQ(dynamic.OpCounts().count("Gemm"), 0u);
}

TEST(MatMulAddToGemmTest, LeavesNonWeightBiasAlone) {
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
