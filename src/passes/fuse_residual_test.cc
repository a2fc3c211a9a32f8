#include <gtest/gtest.h>

#include "ir/fused_ops.h"
#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

// The inferred shape of an intermediate value, as the builder's probe records it.
void SetShape(ir::Graph& g, const std::string& name, std::vector<int64_t> dims) {
  ir::ValueInfo& v = g.value_infos[name];
  v.name = name;
  v.dtype = DataType::kF32;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  v.has_shape = true;
}

// A 3x3 (or 1x1) Conv of 4 channels on 6x6, writing `out`.
ir::Node Conv(const std::string& name, const std::string& x, const std::string& out, ir::Graph& g,
              bool bias, int64_t k = 3, uint32_t seed = 1) {
  g.weights.emplace(name + ".weight", RandomTensor(Shape{4, 4, k, k}, seed));
  ir::Node n = MakeNode("Conv", {x, name + ".weight"}, {out}, name);
  if (bias) {
    g.weights.emplace(name + ".bias", RandomTensor(Shape{4}, seed + 1));
    n.inputs.push_back(name + ".bias");
  }
  testing::SetInts(n, "kernel_shape", {k, k});
  testing::SetInts(n, "pads",
                   k == 3 ? std::vector<int64_t>{1, 1, 1, 1} : std::vector<int64_t>{0, 0, 0, 0});
  SetShape(g, out, {1, 4, 6, 6});
  return n;
}

// x -> Conv -> h; Add(h, x) -> s (operands in either order); Relu -> y.
ir::Graph Block(bool bias, bool conv_first) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {1, 4, 6, 6});
  g.nodes.push_back(Conv("conv", "x", "h", g, bias));
  g.nodes.push_back(MakeNode(
      "Add", conv_first ? std::vector<std::string>{"h", "x"} : std::vector<std::string>{"x", "h"},
      {"s"}, "add"));
  SetShape(g, "s", {1, 4, 6, 6});
  g.nodes.push_back(MakeNode("Relu", {"s"}, {"y"}, "relu"));
  AddOutput(g, "y");
  return g;
}

// Runs fuse_residual then fuse_activation, as the pipeline does.
ir::Graph Fuse(const ir::Graph& before, PassReport* report) {
  ir::Graph after = testing::CloneGraph(before);
  EXPECT_TRUE(FuseResidualPass(after, report).ok());
  EXPECT_TRUE(FuseActivationPass(after, report).ok());
  EXPECT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  return after;
}

TEST(FuseResidualTest, ResNetBlockBecomesOneConv) {
  for (bool bias : {true, false}) {
    for (bool conv_first : {true, false}) {
      SCOPED_TRACE(std::string(bias ? "bias" : "no bias") + (conv_first ? ", conv first" : ""));
      const ir::Graph before = Block(bias, conv_first);
      PassReport report;
      const ir::Graph after = Fuse(before, &report);
      EXPECT_EQ(report.Count("fuse_residual"), 1) << report.ToString();
      ASSERT_EQ(after.nodes.size(), 1u);
      const ir::Node& conv = after.nodes[0];
      EXPECT_EQ(conv.op_type, "Conv");
      EXPECT_TRUE(ir::HasFusedResidual(conv));
      ASSERT_EQ(conv.inputs.size(), 4u);
      EXPECT_EQ(conv.inputs[2], bias ? "conv.bias" : "");
      EXPECT_EQ(conv.inputs[3], "x");
      EXPECT_EQ(conv.outputs[0], "y");
      EXPECT_EQ(ir::GetFusedActivation(conv)->kind, ir::ActivationKind::kRelu);
      EXPECT_EQ(conv.fused, (std::vector<std::string>{"add", "relu"}));
      EXPECT_EQ(after.weights.size(), before.weights.size());  // no weight changes
      testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{1, 4, 6, 6}, 7));
    }
  }
}

// A downsampling block: both operands are Convs; the later one takes the earlier one's output,
// computed before it.
TEST(FuseResidualTest, TwoConvOperandsTheLaterTakesTheSum) {
  ir::Graph before;
  before.opset = 17;
  AddInput(before, "x", {1, 4, 6, 6});
  before.nodes.push_back(Conv("main", "x", "a", before, true, 3, 1));
  before.nodes.push_back(Conv("down", "x", "d", before, true, 1, 5));
  before.nodes.push_back(MakeNode("Add", {"a", "d"}, {"y"}, "add"));
  SetShape(before, "y", {1, 4, 6, 6});
  AddOutput(before, "y");
  PassReport report;
  const ir::Graph after = Fuse(before, &report);
  ASSERT_EQ(after.nodes.size(), 2u);
  EXPECT_EQ(after.nodes[0].name, "main");
  EXPECT_FALSE(ir::HasFusedResidual(after.nodes[0]));
  EXPECT_EQ(after.nodes[1].name, "down");
  EXPECT_TRUE(ir::HasFusedResidual(after.nodes[1]));
  EXPECT_EQ(after.nodes[1].inputs[3], "a");
  testing::ExpectSameOutputs(before, after, "x", RandomTensor(Shape{1, 4, 6, 6}, 8));
}

// Left alone: a weight operand, a broadcast operand, a Conv output read elsewhere too, a Conv
// that already has a fused activation, and an Add of a value with itself.
TEST(FuseResidualTest, KeepsWhatItCannotFuse) {
  auto check_kept = [](const ir::Graph& before) {
    PassReport report;
    ir::Graph after = testing::CloneGraph(before);
    ASSERT_TRUE(FuseResidualPass(after, &report).ok());
    EXPECT_EQ(report.Count("fuse_residual"), 0) << report.ToString();
    EXPECT_GE(report.Count("fuse_residual.skipped"), 1) << report.ToString();
    EXPECT_EQ(after.nodes.size(), before.nodes.size());
    for (const ir::Node& n : after.nodes) EXPECT_FALSE(ir::HasFusedResidual(n)) << n.name;
  };
  {
    ir::Graph g = Block(true, true);
    g.weights.emplace("c", RandomTensor(Shape{1, 4, 6, 6}, 3));
    g.nodes[1].inputs[1] = "c";
    check_kept(g);
  }
  {
    ir::Graph g = Block(true, true);
    AddInput(g, "z", {1, 4, 1, 1});
    g.nodes[1].inputs[1] = "z";
    check_kept(g);
  }
  {
    ir::Graph g = Block(true, true);
    g.nodes.push_back(MakeNode("Sigmoid", {"h"}, {"t"}, "other_reader"));
    SetShape(g, "t", {1, 4, 6, 6});
    AddOutput(g, "t");
    check_kept(g);
  }
  {
    ir::Graph g = Block(true, true);
    ir::SetFusedActivation(g.nodes[0], {ir::ActivationKind::kRelu});
    check_kept(g);
  }
  {
    ir::Graph g = Block(true, true);
    g.nodes[1].inputs[1] = "h";
    check_kept(g);
  }
}

}  // namespace
}  // namespace refit::passes
