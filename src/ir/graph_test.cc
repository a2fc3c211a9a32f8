#include "ir/graph.h"

#include <gtest/gtest.h>

namespace refit::ir {
namespace {

// x -> MatMul(x, wt) -> y, with wt a derived weight transpose(w).
Graph WithDerived() {
  Graph g;
  g.opset = 17;
  ValueInfo x;
  x.name = "x";
  g.inputs.push_back(x);
  g.weights.emplace("w", Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  WeightRecipe r;
  r.AddTranspose(r.AddSource("w"), {1, 0});
  g.derived_weights.emplace("wt", r);
  Node n;
  n.name = "mm";
  n.op_type = "MatMul";
  n.inputs = {"x", "wt"};
  n.outputs = {"y"};
  g.nodes.push_back(n);
  ValueInfo y;
  y.name = "y";
  g.outputs.push_back(y);
  return g;
}

TEST(GraphTest, DerivedWeightsAreDefinedValues) {
  Graph g = WithDerived();
  EXPECT_TRUE(g.Validate().ok()) << g.Validate().ToString();
  ASSERT_NE(g.FindDerivedWeight("wt"), nullptr);
  EXPECT_EQ(g.FindDerivedWeight("w"), nullptr);
  EXPECT_EQ(g.FindWeight("wt"), nullptr);
}

TEST(GraphTest, DerivedWeightErrorsNameTheWeight) {
  Graph clash = WithDerived();
  clash.derived_weights.emplace("w", WeightRecipe::FromSource("w"));
  Status s = clash.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("derived weight 'w'"), std::string::npos) << s.ToString();

  Graph missing = WithDerived();
  missing.derived_weights["wt"] = WeightRecipe::FromSource("nope");
  s = missing.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'nope'"), std::string::npos) << s.ToString();

  Graph derived_of_derived = WithDerived();
  derived_of_derived.derived_weights.emplace("wtt", WeightRecipe::FromSource("wt"));
  EXPECT_FALSE(derived_of_derived.Validate().ok());

  Graph empty = WithDerived();
  empty.derived_weights["wt"] = WeightRecipe();
  s = empty.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("derived weight 'wt'"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace refit::ir
