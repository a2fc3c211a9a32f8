// Test helpers for the fusion passes (included by *_test.cc only): Constant nodes, and the refit
// check every fusion test makes.
#pragma once

#include <memory>

#include "ir/fused_ops.h"
#include "passes/pass_test_util.h"

namespace refit::passes::testing {

inline ir::Node ConstNode(const std::string& out, Tensor value) {
  ir::Node n = MakeNode("Constant", {}, {out});
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kTensor;
  a.t = std::make_shared<const Tensor>(std::move(value));
  n.attrs.Set("value", a);
  return n;
}

inline ir::Node ScalarConst(const std::string& out, float v) {
  return ConstNode(out, Tensor::FromVector<float>(Shape(std::vector<int64_t>{}), {v}));
}

inline void SetFloat(ir::Node& n, const std::string& key, float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  n.attrs.Set(key, a);
}

// Replaces source weight `name` by new random values in both graphs and checks they still agree,
// and that the output did change (so the weight really is read at run time, not baked).
inline void ExpectSameAfterRefit(ir::Graph& before, ir::Graph& after, const std::string& input,
                                 const Tensor& x, const std::string& name, uint32_t seed) {
  auto old_out = RunGraph(after, [&] {
    std::map<std::string, Tensor> m;
    m.emplace(input, x.Clone());
    return m;
  }());
  ASSERT_TRUE(old_out.ok()) << old_out.status().ToString();
  const Shape shape = before.weights.at(name).shape();
  before.weights.at(name) = RandomTensor(shape, seed, 0.5f, 1.5f);
  after.weights.at(name) = RandomTensor(shape, seed, 0.5f, 1.5f);
  ExpectSameOutputs(before, after, input, x.Clone());
  std::map<std::string, Tensor> in;
  in.emplace(input, x.Clone());
  auto new_out = RunGraph(after, in);
  ASSERT_TRUE(new_out.ok());
  bool changed = false;
  for (const auto& [n, t] : *new_out) changed = changed || !AllClose(old_out->at(n), t, 1e-6);
  EXPECT_TRUE(changed) << "refitting '" << name << "' did not change any output";
}

inline int CountOp(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.op_type == op;
  return n;
}

}  // namespace refit::passes::testing
