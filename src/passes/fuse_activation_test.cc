#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ir/fused_ops.h"
#include "passes/fusion_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;
using testing::ScalarConst;

// x [4, 8] -> Gemm(W, B) -> "h" -> activation pattern built by `act` (reads "h", writes "y").
ir::Graph GemmThen(const std::function<void(ir::Graph&)>& act) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {4, 8});
  g.weights.emplace("W", RandomTensor(Shape{8, 6}, 1, -2.f, 2.f));
  g.weights.emplace("B", RandomTensor(Shape{6}, 2));
  g.nodes.push_back(MakeNode("Gemm", {"x", "W", "B"}, {"h"}, "gemm"));
  act(g);
  AddOutput(g, "y");
  return g;
}

struct Case {
  std::string name;
  ir::ActivationKind kind;
  std::function<void(ir::Graph&)> build;
  size_t absorbed;
};

std::vector<Case> Cases() {
  auto unary = [](const std::string& op, std::function<void(ir::Node&)> attrs = nullptr) {
    return [op, attrs](ir::Graph& g) {
      ir::Node n = MakeNode(op, {"h"}, {"y"}, "act");
      if (attrs) attrs(n);
      g.nodes.push_back(n);
    };
  };
  using K = ir::ActivationKind;
  std::vector<Case> c = {
      {"Relu", K::kRelu, unary("Relu"), 1},
      {"Tanh", K::kTanh, unary("Tanh"), 1},
      {"Sigmoid", K::kSigmoid, unary("Sigmoid"), 1},
      {"HardSwish", K::kHardSwish, unary("HardSwish"), 1},
      {"LeakyRelu", K::kLeakyRelu,
       unary("LeakyRelu", [](ir::Node& n) { testing::SetFloat(n, "alpha", 0.2f); }), 1},
      {"HardSigmoid", K::kHardSigmoid,
       unary("HardSigmoid", [](ir::Node& n) { testing::SetFloat(n, "alpha", 0.3f); }), 1},
      {"Clip", K::kClip,
       [](ir::Graph& g) {
         g.nodes.push_back(ScalarConst("lo", -0.5f));
         g.nodes.push_back(ScalarConst("hi", 0.75f));
         g.nodes.push_back(MakeNode("Clip", {"h", "lo", "hi"}, {"y"}, "act"));
       },
       1},
      {"ClipMinOnly", K::kClip,
       [](ir::Graph& g) {
         g.nodes.push_back(ScalarConst("lo", 0.f));
         g.nodes.push_back(MakeNode("Clip", {"h", "lo"}, {"y"}, "act"));
       },
       1},
  };
  for (int order = 0; order < 2; ++order) {
    c.push_back({"SiLU" + std::to_string(order), K::kSilu,
                 [order](ir::Graph& g) {
                   g.nodes.push_back(MakeNode("Sigmoid", {"h"}, {"s"}, "sig"));
                   g.nodes.push_back(MakeNode("Mul",
                                              order ? std::vector<std::string>{"s", "h"}
                                                    : std::vector<std::string>{"h", "s"},
                                              {"y"}, "mul"));
                 },
                 2});
  }
  c.push_back({"HardSwishAsMul", K::kHardSwish,
               [](ir::Graph& g) {
                 ir::Node hs = MakeNode("HardSigmoid", {"h"}, {"s"}, "hsig");
                 testing::SetFloat(hs, "alpha", 1.f / 6.f);
                 g.nodes.push_back(hs);
                 g.nodes.push_back(MakeNode("Mul", {"s", "h"}, {"y"}, "mul"));
               },
               2});
  // GELU as torch exports it, in each association of the final products, and with Mul by 1/sqrt2.
  for (int variant = 0; variant < 4; ++variant) {
    c.push_back({"Gelu" + std::to_string(variant), K::kGelu,
                 [variant](ir::Graph& g) {
                   g.nodes.push_back(
                       ScalarConst("c_div", variant == 3 ? float(M_SQRT1_2) : float(M_SQRT2)));
                   g.nodes.push_back(ScalarConst("c_one", 1.f));
                   g.nodes.push_back(ScalarConst("c_half", 0.5f));
                   g.nodes.push_back(MakeNode(variant == 3 ? "Mul" : "Div", {"h", "c_div"}, {"d"}));
                   g.nodes.push_back(MakeNode("Erf", {"d"}, {"e"}));
                   g.nodes.push_back(MakeNode("Add", {"e", "c_one"}, {"p"}));
                   if (variant == 0 || variant == 3) {
                     g.nodes.push_back(MakeNode("Mul", {"h", "p"}, {"m"}));
                     g.nodes.push_back(MakeNode("Mul", {"m", "c_half"}, {"y"}));
                   } else if (variant == 1) {
                     g.nodes.push_back(MakeNode("Mul", {"h", "c_half"}, {"m"}));
                     g.nodes.push_back(MakeNode("Mul", {"m", "p"}, {"y"}));
                   } else {
                     g.nodes.push_back(MakeNode("Mul", {"p", "c_half"}, {"m"}));
                     g.nodes.push_back(MakeNode("Mul", {"m", "h"}, {"y"}));
                   }
                 },
                 5});
  }
  return c;
}

class FuseActivationTest : public ::testing::TestWithParam<Case> {};

TEST_P(FuseActivationTest, FusesIntoGemmAndKeepsOutputsAndRefit) {
  const Case& c = GetParam();
  ir::Graph before = GemmThen(c.build);
  ir::Graph after = testing::CloneGraph(before);
  PassReport report;
  ASSERT_TRUE(FuseActivationPass(after, &report).ok());
  ASSERT_TRUE(EliminateDeadCodePass(after, nullptr).ok());
  ASSERT_TRUE(after.Validate().ok()) << after.Validate().ToString();
  EXPECT_EQ(report.Count("fuse_activation"), 1) << report.ToString();
  ASSERT_EQ(after.nodes.size(), 1u) << report.ToString();
  const ir::Node& gemm = after.nodes[0];
  EXPECT_EQ(gemm.outputs[0], "y");
  auto act = ir::GetFusedActivation(gemm);
  ASSERT_TRUE(act.ok());
  EXPECT_EQ(act->kind, c.kind);
  EXPECT_EQ(gemm.fused.size(), c.absorbed);
  for (const std::string& name : gemm.fused) EXPECT_NE(name, "gemm");
  const Tensor x = RandomTensor(Shape{4, 8}, 9, -2.f, 2.f);
  testing::ExpectSameOutputs(before, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(before, after, "x", x, "W", 11);
}

INSTANTIATE_TEST_SUITE_P(Kinds, FuseActivationTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(FuseActivationTest, ClipBoundFromWeightIsNotFused) {
  ir::Graph g = GemmThen([](ir::Graph& g) {
    g.weights.emplace("lo", Tensor::FromVector<float>(Shape(std::vector<int64_t>{}), {0.f}));
    g.nodes.push_back(MakeNode("Clip", {"h", "lo"}, {"y"}, "act"));
  });
  ASSERT_TRUE(FuseActivationPass(g, nullptr).ok());
  EXPECT_EQ(g.nodes.size(), 2u);
  EXPECT_FALSE(g.nodes[0].attrs.Has(ir::kActivationAttr));
}

TEST(FuseActivationTest, ProducerOutputWithOtherReadersIsNotFused) {
  ir::Graph g = GemmThen([](ir::Graph& g) { g.nodes.push_back(MakeNode("Relu", {"h"}, {"y"})); });
  AddOutput(g, "h");
  ASSERT_TRUE(FuseActivationPass(g, nullptr).ok());
  EXPECT_EQ(g.nodes.size(), 2u);
  // SiLU whose Sigmoid output is also a graph output.
  ir::Graph s = GemmThen([](ir::Graph& g) {
    g.nodes.push_back(MakeNode("Sigmoid", {"h"}, {"s"}));
    g.nodes.push_back(MakeNode("Mul", {"h", "s"}, {"y"}));
  });
  AddOutput(s, "s");
  ASSERT_TRUE(FuseActivationPass(s, nullptr).ok());
  EXPECT_EQ(s.nodes.size(), 3u);
}

TEST(FuseActivationTest, ConvReluAfterBatchNormListsBoth) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {1, 3, 6, 6});
  g.weights.emplace("W", RandomTensor(Shape{4, 3, 3, 3}, 1));
  for (const char* p : {"bn.w", "bn.b", "bn.m"}) g.weights.emplace(p, RandomTensor(Shape{4}, 2));
  g.weights.emplace("bn.v", RandomTensor(Shape{4}, 3, 0.5f, 2.f));
  g.nodes.push_back(MakeNode("Conv", {"x", "W"}, {"c"}, "conv"));
  g.nodes.push_back(
      MakeNode("BatchNormalization", {"c", "bn.w", "bn.b", "bn.m", "bn.v"}, {"b"}, "bn"));
  g.nodes.push_back(MakeNode("Relu", {"b"}, {"y"}, "relu"));
  AddOutput(g, "y");
  ir::Graph after = testing::CloneGraph(g);
  ASSERT_TRUE(RunDefaultPasses(after, nullptr).ok());
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].fused, (std::vector<std::string>{"bn", "relu"}));
  const Tensor x = RandomTensor(Shape{1, 3, 6, 6}, 4);
  testing::ExpectSameOutputs(g, after, "x", x.Clone());
  testing::ExpectSameAfterRefit(g, after, "x", x, "bn.w", 5);
}

}  // namespace
}  // namespace refit::passes
