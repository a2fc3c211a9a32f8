#include <gtest/gtest.h>

#include "ir/fused_elementwise.h"
#include "passes/fusion_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::CountOp;
using testing::MakeNode;
using testing::RandomTensor;
using testing::ScalarConst;

ir::Graph Fused(const ir::Graph& before, PassReport* report) {
  ir::Graph after = testing::CloneGraph(before);
  EXPECT_TRUE(FuseElementwisePass(after, report).ok());
  EXPECT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  EXPECT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  return after;
}

// y = Sigmoid((x + b) * 2) * x - LeakyRelu(x): a tree over x, a per-channel weight and a scalar.
TEST(FuseElementwiseTest, TreeWithBroadcastWeightAndScalar) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {2, 3, 4, 5});
  g.weights.emplace("b", RandomTensor(Shape{3, 1, 1}, 1));
  g.nodes.push_back(ScalarConst("two", 2.f));
  g.nodes.push_back(MakeNode("Add", {"x", "b"}, {"t1"}, "add"));
  g.nodes.push_back(MakeNode("Mul", {"t1", "two"}, {"t2"}, "mul"));
  g.nodes.push_back(MakeNode("Sigmoid", {"t2"}, {"t3"}, "sig"));
  g.nodes.push_back(MakeNode("Mul", {"t3", "x"}, {"t4"}, "mul2"));
  ir::Node lr = MakeNode("LeakyRelu", {"x"}, {"t5"}, "lrelu");
  testing::SetFloat(lr, "alpha", 0.3f);
  g.nodes.push_back(lr);
  g.nodes.push_back(MakeNode("Sub", {"t4", "t5"}, {"y"}, "sub"));
  AddOutput(g, "y");
  PassReport report;
  ir::Graph after = Fused(g, &report);
  EXPECT_EQ(report.Count("fuse_elementwise"), 1) << report.ToString();
  ASSERT_EQ(after.nodes.size(), 1u) << report.ToString();
  const ir::Node& f = after.nodes[0];
  EXPECT_EQ(f.domain, "refit");
  EXPECT_EQ(f.op_type, "FusedElementwise");
  EXPECT_EQ(f.name, "sub");
  EXPECT_EQ(f.inputs, (std::vector<std::string>{"x", "b"}));
  EXPECT_EQ(f.fused, (std::vector<std::string>{"add", "mul", "sig", "mul2", "lrelu"}));
  auto p = ir::GetEwProgram(f);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->code.size(), 6u);
  EXPECT_EQ(p->constants, (std::vector<float>{2.f, 0.3f})) << p->ToString();
  const Tensor x = RandomTensor(Shape{2, 3, 4, 5}, 2, -3.f, 3.f);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(g, after, "x", x, "b", 3);
}

// An intermediate read by two members is absorbed; one read outside the tree is not.
TEST(FuseElementwiseTest, SharedIntermediates) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {7});
  g.nodes.push_back(MakeNode("Exp", {"x"}, {"t"}, "exp"));
  g.nodes.push_back(MakeNode("Neg", {"t"}, {"u"}, "neg"));
  g.nodes.push_back(MakeNode("Mul", {"u", "t"}, {"y"}, "mul"));
  g.nodes.push_back(MakeNode("Abs", {"x"}, {"a"}, "abs"));
  g.nodes.push_back(MakeNode("Sqrt", {"a"}, {"s"}, "sqrt"));
  g.nodes.push_back(MakeNode("Tanh", {"s"}, {"z"}, "tanh"));
  AddOutput(g, "y");
  AddOutput(g, "z");
  AddOutput(g, "s");  // s is an output: sqrt cannot be absorbed into tanh's tree
  ir::Graph after = Fused(g, nullptr);
  EXPECT_EQ(CountOp(after, "FusedElementwise"), 2);
  EXPECT_EQ(after.nodes.size(), 3u);  // fused(exp, neg, mul), fused(abs, sqrt), tanh
  testing::ExpectSameOutputs(g, after, "x", RandomTensor(Shape{7}, 4));
}

TEST(FuseElementwiseTest, TooManyInputsSplits) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {3, 4});
  std::string acc = "x";
  for (int i = 0; i < 6; ++i) {
    const std::string w = "w" + std::to_string(i), out = "s" + std::to_string(i);
    g.weights.emplace(w, RandomTensor(Shape{4}, uint32_t(10 + i)));
    g.nodes.push_back(MakeNode(i % 2 ? "Mul" : "Add", {acc, w}, {out}));
    acc = out;
  }
  g.nodes.push_back(MakeNode("Relu", {acc}, {"y"}));
  AddOutput(g, "y");
  ir::Graph after = Fused(g, nullptr);
  EXPECT_EQ(CountOp(after, "FusedElementwise"), 2);
  for (const ir::Node& n : after.nodes) EXPECT_LE(n.inputs.size(), 4u);
  const Tensor x = RandomTensor(Shape{3, 4}, 5);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(g, after, "x", x, "w0", 6);
}

// BERT's MatMul -> Add(bias) -> GELU: the 3-D MatMul and its bias become a Gemm over x's rows
// (between two Reshapes), and the GELU one FusedElementwise, through the default pipeline.
TEST(FuseElementwiseTest, BiasGeluAfterMatMulInPipeline) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {2, 3, 8});
  g.weights.emplace("W", RandomTensor(Shape{8, 4}, 1));
  g.weights.emplace("bias", RandomTensor(Shape{4}, 2));
  g.nodes.push_back(MakeNode("MatMul", {"x", "W"}, {"m"}));
  g.nodes.push_back(MakeNode("Add", {"m", "bias"}, {"h"}));
  g.nodes.push_back(ScalarConst("c_div", 1.4142135f));
  g.nodes.push_back(ScalarConst("c_one", 1.f));
  g.nodes.push_back(ScalarConst("c_half", 0.5f));
  g.nodes.push_back(MakeNode("Div", {"h", "c_div"}, {"d"}));
  g.nodes.push_back(MakeNode("Erf", {"d"}, {"e"}));
  g.nodes.push_back(MakeNode("Add", {"e", "c_one"}, {"p"}));
  g.nodes.push_back(MakeNode("Mul", {"h", "p"}, {"q"}));
  g.nodes.push_back(MakeNode("Mul", {"q", "c_half"}, {"y"}));
  AddOutput(g, "y");
  ir::Graph after = testing::CloneGraph(g);
  PassReport report;
  ASSERT_TRUE(RunDefaultPasses(after, &report, {testing::ReferenceEvaluator()}).ok());
  EXPECT_EQ(CountOp(after, "Gemm"), 1) << report.ToString();
  EXPECT_EQ(CountOp(after, "MatMul"), 0);
  EXPECT_EQ(CountOp(after, "FusedElementwise"), 1);
  EXPECT_EQ(after.nodes.back().op_type, "FusedElementwise");
  EXPECT_EQ(after.nodes.back().fused.size(), 4u);  // Div, Erf, Add, Mul (and its own Mul)
  const Tensor x = RandomTensor(Shape{2, 3, 8}, 3, -2.f, 2.f);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(g, after, "x", x, "bias", 4);
}

}  // namespace
}  // namespace refit::passes
