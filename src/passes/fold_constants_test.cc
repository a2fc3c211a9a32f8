#include <gtest/gtest.h>

#include <memory>

#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

ir::Node ConstantNode(const std::string& out, Tensor value) {
  ir::Node n = MakeNode("Constant", {}, {out});
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kTensor;
  a.t = std::make_shared<const Tensor>(std::move(value));
  n.attrs.Set("value", std::move(a));
  return n;
}

// Shape arithmetic on a static input, s = Shape(x) * two / two, y = Reshape(x, s) + (w + c) with
// a weight w, and u = Shape(d) on an input with a dynamic dimension.
ir::Graph Sample() {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {2, 3});
  AddInput(g, "d", {-1, 3});
  g.weights.emplace("w", RandomTensor(Shape{3}, 1));
  g.nodes.push_back(ConstantNode("two", Tensor::FromVector<int64_t>(Shape{2}, {2, 2})));
  g.nodes.push_back(ConstantNode("c", Tensor::FromVector<float>(Shape{3}, {1, 2, 3})));
  g.nodes.push_back(MakeNode("Shape", {"x"}, {"s0"}, "shape_x"));
  g.nodes.push_back(MakeNode("Mul", {"s0", "two"}, {"s1"}, "mul"));
  g.nodes.push_back(MakeNode("Div", {"s1", "two"}, {"s2"}, "div"));
  g.nodes.push_back(MakeNode("Reshape", {"x", "s2"}, {"r"}, "reshape"));
  g.nodes.push_back(MakeNode("Add", {"w", "c"}, {"wc"}, "weight_add"));
  g.nodes.push_back(MakeNode("Add", {"r", "wc"}, {"y"}, "out_add"));
  g.nodes.push_back(MakeNode("Shape", {"d"}, {"u"}, "shape_d"));
  AddOutput(g, "y");
  AddOutput(g, "u");
  return g;
}

TEST(FoldConstantsTest, FoldsShapeArithmeticButNeverWeights) {
  ir::Graph before = Sample();
  ir::Graph after = testing::CloneGraph(before);
  PassReport report;
  ASSERT_TRUE(FoldConstantsPass(after, testing::ReferenceEvaluator(), &report).ok());
  ASSERT_TRUE(after.Validate().ok());
  EXPECT_EQ(report.Count("fold_constants"), 3) << report.ToString();
  std::map<std::string, std::string> op_of;
  for (const ir::Node& n : after.nodes) op_of[n.name] = n.op_type;
  EXPECT_EQ(op_of["shape_x"], "Constant");
  EXPECT_EQ(op_of["mul"], "Constant");
  EXPECT_EQ(op_of["div"], "Constant");
  EXPECT_EQ(op_of["weight_add"], "Add");  // reads a weight: refit must recompute it
  EXPECT_EQ(op_of["shape_d"], "Shape");   // dynamic dimension
  for (const ir::Node& n : after.nodes) {
    if (n.name != "div") continue;
    auto t = n.attrs.GetTensor("value");
    ASSERT_TRUE(t.ok() && *t != nullptr);
    ASSERT_EQ((*t)->NumElements(), 2);
    EXPECT_EQ((*t)->data_as<int64_t>()[0], 2);
    EXPECT_EQ((*t)->data_as<int64_t>()[1], 3);
  }
  // The d input has a dynamic first dimension: run with 4 rows.
  std::map<std::string, Tensor> inputs;
  inputs.emplace("x", RandomTensor(Shape{2, 3}, 2));
  inputs.emplace("d", RandomTensor(Shape{4, 3}, 3));
  auto a = testing::RunGraph(before, inputs);
  auto b = testing::RunGraph(after, inputs);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(testing::AllClose(a->at("y"), b->at("y"), 1e-6));
  EXPECT_EQ(b->at("u").data_as<int64_t>()[0], 4);
  // Dead Constants left behind are for eliminate_dead_code.
  ASSERT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  EXPECT_EQ(after.OpCounts()["Constant"], 2);  // "c" and the folded shape
}

TEST(FoldConstantsTest, KeepsNodesTheEvaluatorCannotRun) {
  ir::Graph g = Sample();
  NodeEvaluator no_mul = [](const ir::Node& n, int64_t opset,
                            const std::vector<const Tensor*>& inputs, std::vector<Tensor>* out) {
    if (n.op_type == "Mul") return Unimplemented("no Mul here");
    return testing::ReferenceEvaluator()(n, opset, inputs, out);
  };
  PassReport report;
  ASSERT_TRUE(FoldConstantsPass(g, no_mul, &report).ok());
  EXPECT_EQ(report.Count("fold_constants"), 1) << report.ToString();  // only Shape(x)
  EXPECT_EQ(report.Count("fold_constants.skipped"), 1);
  EXPECT_EQ(g.OpCounts()["Mul"], 1);
  EXPECT_EQ(g.OpCounts()["Div"], 1);
  EXPECT_TRUE(g.Validate().ok());
}

TEST(FoldConstantsTest, RequiresAnEvaluator) {
  ir::Graph g = Sample();
  EXPECT_FALSE(FoldConstantsPass(g, NodeEvaluator(), nullptr).ok());
}

}  // namespace
}  // namespace refit::passes
