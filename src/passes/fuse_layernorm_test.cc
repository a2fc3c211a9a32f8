#include <gtest/gtest.h>

#include <algorithm>

#include "ir/fused_ops.h"
#include "passes/fusion_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::ConstNode;
using testing::CountOp;
using testing::MakeNode;
using testing::RandomTensor;
using testing::ScalarConst;

ir::Node Mean(const std::string& in, const std::string& out, std::vector<int64_t> axes) {
  ir::Node n = MakeNode("ReduceMean", {in}, {out}, "mean_" + out);
  testing::SetInts(n, "axes", std::move(axes));
  return n;
}

// torch.nn.LayerNorm(8) exported at opset < 17.
ir::Graph DecomposedLayerNorm(bool affine) {
  ir::Graph g;
  g.opset = 13;
  AddInput(g, "x", {2, 5, 8});
  g.weights.emplace("ln.weight", RandomTensor(Shape{8}, 1, 0.5f, 1.5f));
  g.weights.emplace("ln.bias", RandomTensor(Shape{8}, 2));
  g.nodes.push_back(Mean("x", "m", {-1}));
  g.nodes.push_back(MakeNode("Sub", {"x", "m"}, {"d"}, "sub"));
  g.nodes.push_back(ScalarConst("two", 2.f));
  g.nodes.push_back(MakeNode("Pow", {"d", "two"}, {"sq"}, "pow"));
  g.nodes.push_back(Mean("sq", "v", {-1}));
  g.nodes.push_back(ScalarConst("eps", 1e-5f));
  g.nodes.push_back(MakeNode("Add", {"v", "eps"}, {"ve"}, "add_eps"));
  g.nodes.push_back(MakeNode("Sqrt", {"ve"}, {"sd"}, "sqrt"));
  g.nodes.push_back(MakeNode("Div", {"d", "sd"}, {affine ? "n" : "y"}, "div"));
  if (affine) {
    g.nodes.push_back(MakeNode("Mul", {"n", "ln.weight"}, {"s"}, "mul_gamma"));
    g.nodes.push_back(MakeNode("Add", {"s", "ln.bias"}, {"y"}, "add_beta"));
  }
  AddOutput(g, "y");
  return g;
}

TEST(FuseLayerNormTest, DecomposedLayerNormWithAffine) {
  ir::Graph g = DecomposedLayerNorm(true);
  ir::Graph after = testing::CloneGraph(g);
  PassReport report;
  ASSERT_TRUE(FuseLayerNormPass(after, &report).ok());
  ASSERT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  ASSERT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  EXPECT_EQ(report.Count("fuse_layernorm"), 1) << report.ToString();
  ASSERT_EQ(after.nodes.size(), 1u);
  const ir::Node& ln = after.nodes[0];
  EXPECT_EQ(ln.domain, "refit");
  EXPECT_EQ(ln.op_type, "LayerNormalization");
  EXPECT_EQ(ln.name, "add_beta");
  EXPECT_EQ(ln.inputs, (std::vector<std::string>{"x", "ln.weight", "ln.bias"}));
  EXPECT_EQ(*ln.attrs.GetInt("axis", 0), -1);
  EXPECT_FLOAT_EQ(*ln.attrs.GetFloat("epsilon", 0), 1e-5f);
  EXPECT_EQ(ln.fused, (std::vector<std::string>{"mean_m", "sub", "pow", "mean_v", "add_eps", "sqrt",
                                                "div", "mul_gamma"}));
  const Tensor x = RandomTensor(Shape{2, 5, 8}, 3, -2.f, 4.f);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(g, after, "x", x, "ln.weight", 4);
  testing::ExpectSameAfterRefit(g, after, "x", x, "ln.bias", 5);
}

TEST(FuseLayerNormTest, WithoutAffineAndNotWhenStatsAreRead) {
  ir::Graph g = DecomposedLayerNorm(false);
  ir::Graph after = testing::CloneGraph(g);
  ASSERT_TRUE(FuseLayerNormPass(after, nullptr).ok());
  ASSERT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].inputs, (std::vector<std::string>{"x"}));
  testing::ExpectSameOutputs(g, after, "x", RandomTensor(Shape{2, 5, 8}, 6));
  ir::Graph read = DecomposedLayerNorm(true);
  AddOutput(read, "v");  // the variance is wanted: nothing may disappear
  ASSERT_TRUE(FuseLayerNormPass(read, nullptr).ok());
  EXPECT_EQ(CountOp(read, "LayerNormalization"), 0);
}

// torch.nn.GroupNorm(3, 6) as exported without constant folding, followed by SiLU.
ir::Graph GroupNormSilu() {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {2, 6, 4, 5});
  g.weights.emplace("gn.weight", RandomTensor(Shape{6}, 1, 0.5f, 1.5f));
  g.weights.emplace("gn.bias", RandomTensor(Shape{6}, 2));
  g.weights.emplace("in.scale", RandomTensor(Shape{3}, 3, 0.5f, 1.5f));
  g.weights.emplace("in.bias", RandomTensor(Shape{3}, 4));
  g.nodes.push_back(ConstNode("shape1", Tensor::FromVector<int64_t>(Shape{3}, {0, 3, -1})));
  g.nodes.push_back(MakeNode("Reshape", {"x", "shape1"}, {"r1"}, "reshape1"));
  ir::Node in = MakeNode("InstanceNormalization", {"r1", "in.scale", "in.bias"}, {"i"}, "inorm");
  testing::SetFloat(in, "epsilon", 1e-5f);
  g.nodes.push_back(in);
  g.nodes.push_back(MakeNode("Shape", {"x"}, {"xs"}, "shape"));
  g.nodes.push_back(MakeNode("Reshape", {"i", "xs"}, {"r2"}, "reshape2"));
  g.nodes.push_back(ConstNode("axes", Tensor::FromVector<int64_t>(Shape{2}, {1, 2})));
  g.nodes.push_back(MakeNode("Unsqueeze", {"gn.weight", "axes"}, {"gw"}, "unsq_w"));
  g.nodes.push_back(MakeNode("Unsqueeze", {"gn.bias", "axes"}, {"gb"}, "unsq_b"));
  g.nodes.push_back(MakeNode("Mul", {"r2", "gw"}, {"m"}, "mul"));
  g.nodes.push_back(MakeNode("Add", {"m", "gb"}, {"n"}, "add"));
  g.nodes.push_back(MakeNode("Sigmoid", {"n"}, {"s"}, "sig"));
  g.nodes.push_back(MakeNode("Mul", {"n", "s"}, {"y"}, "silu"));
  AddOutput(g, "y");
  // What shape inference would have said about the unsqueezed parameters.
  for (const char* v : {"gw", "gb"}) {
    ir::ValueInfo vi;
    vi.name = v;
    vi.dtype = DataType::kF32;
    vi.dims = {6, 1, 1};
    vi.dim_params.assign(3, "");
    vi.has_shape = true;
    g.value_infos[v] = vi;
  }
  return g;
}

TEST(FuseLayerNormTest, GroupNormThenSiluThroughPipeline) {
  ir::Graph g = GroupNormSilu();
  ir::Graph after = testing::CloneGraph(g);
  PassReport report;
  ASSERT_TRUE(RunDefaultPasses(after, &report, {testing::ReferenceEvaluator()}).ok());
  ASSERT_EQ(after.nodes.size(), 1u) << report.ToString();
  const ir::Node& gn = after.nodes.back();
  EXPECT_EQ(gn.op_type, "GroupNorm");
  EXPECT_EQ(gn.inputs,
            (std::vector<std::string>{"x", "in.scale", "in.bias", "gn.weight", "gn.bias"}));
  EXPECT_EQ(*gn.attrs.GetInt("num_groups", 0), 3);
  EXPECT_EQ(ir::GetFusedActivation(gn)->kind, ir::ActivationKind::kSilu);
  std::vector<std::string> fused = gn.fused;
  std::sort(fused.begin(), fused.end());
  EXPECT_EQ(fused, (std::vector<std::string>{"inorm", "mul", "reshape1", "reshape2", "sig", "silu",
                                             "unsq_b", "unsq_w"}));
  const Tensor x = RandomTensor(Shape{2, 6, 4, 5}, 5, -2.f, 3.f);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  for (const char* w : {"gn.weight", "gn.bias", "in.scale", "in.bias"}) {
    testing::ExpectSameAfterRefit(g, after, "x", x, w, 6);
  }
}

}  // namespace
}  // namespace refit::passes
