#include <gtest/gtest.h>

#include "passes/pass_test_util.h"
#include "passes/passes.h"

namespace refit::passes {
namespace {

using testing::AddInput;
using testing::AddOutput;
using testing::MakeNode;
using testing::RandomTensor;

TEST(EliminateDeadCodeTest, RemovesUnreadChainsKeepsOutputsAndSources) {
  ir::Graph g;
  g.opset = 17;
  AddInput(g, "x", {2, 3});
  g.weights.emplace("w", RandomTensor(Shape{2, 3}, 1));
  g.weights.emplace("unused", RandomTensor(Shape{3}, 2));
  g.derived_weights.emplace("w_t", ir::WeightRecipe::FromSource("unused"));
  g.nodes.push_back(MakeNode("Add", {"x", "w"}, {"a"}, "live_add"));
  g.nodes.push_back(MakeNode("Relu", {"a"}, {"dead1"}, "dead_relu"));
  g.nodes.push_back(MakeNode("Neg", {"dead1"}, {"dead2"}, "dead_neg"));
  g.nodes.push_back(MakeNode("Add", {"w_t", "w_t"}, {"dead3"}, "dead_weight_user"));
  g.nodes.push_back(MakeNode("Sigmoid", {"a"}, {"y"}, "live_sigmoid"));
  g.nodes.push_back(MakeNode("Exp", {"a"}, {"z"}, "output_not_read_later"));
  AddOutput(g, "y");
  AddOutput(g, "z");
  ir::Graph before = testing::CloneGraph(g);
  PassReport report;
  ASSERT_TRUE(EliminateDeadCodePass(g, &report).ok());
  ASSERT_TRUE(g.Validate().ok());
  std::vector<std::string> names;
  for (const ir::Node& n : g.nodes) names.push_back(n.name);
  EXPECT_EQ(names, (std::vector<std::string>{"live_add", "live_sigmoid", "output_not_read_later"}));
  EXPECT_TRUE(g.derived_weights.empty());
  EXPECT_EQ(g.weights.size(), 2u);
  EXPECT_EQ(report.Count("eliminate_dead_code"), 4) << report.ToString();
  testing::ExpectSameOutputs(before, g, "x", RandomTensor(Shape{2, 3}, 3));
}

}  // namespace
}  // namespace refit::passes
