// Conformance of the Reduce tactic against the reference executor: sums and means within 1e-5
// (f32 against double accumulation), max and min bit for bit; axes as attribute or input, kept or
// dropped, adjacent or not, all or none, sizes large enough for threads; an axes input that
// disagrees with the plan fails the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

struct ReduceCase {
  std::string op = "ReduceSum";
  Shape x;
  std::vector<int64_t> axes;  // empty: no axes given
  bool axes_input = false;    // the axes input (ReduceSum at 13, all at 18) instead of attribute
  int64_t keepdims = 1;
  int64_t noop = 0;
  int64_t opset = 13;
};

LayerCase MakeReduce(const ReduceCase& r) {
  LayerCase c;
  c.opset = r.opset;
  c.node = MakeNode(r.op, r.axes_input ? 2 : 1);
  c.inputs.push_back(RandomOf(DataType::kF32, r.x, 17));
  c.weight = {false};
  if (r.axes_input) {
    c.inputs.push_back(I64s(r.axes));
    c.weight.push_back(true);
  } else if (!r.axes.empty()) {
    SetAttr(c.node, "axes", r.axes);
  }
  SetAttr(c.node, "keepdims", r.keepdims);
  if (r.noop != 0) SetAttr(c.node, "noop_with_empty_axes", r.noop);
  return c;
}

void Check(const ReduceCase& r) {
  SCOPED_TRACE(r.op + " " + r.x.ToString() + " axes " + Shape(r.axes).ToString());
  const LayerCase c = MakeReduce(r);
  if (r.op == "ReduceMax" || r.op == "ReduceMin") {
    CheckExact(c, "reduce/rows");
    return;
  }
  std::vector<std::string> names;
  CheckAllTactics(c, 1e-5, 1, &names);
  EXPECT_NE(std::find(names.begin(), names.end(), "reduce/rows"), names.end());
}

TEST(TacticReduce, AdjacentAxes) {
  const Shape x({3, 5, 7, 9});
  Check({.op = "ReduceSum", .x = x, .axes = {-1}, .axes_input = true});
  Check({.op = "ReduceSum", .x = x, .axes = {1, 2}, .axes_input = true, .keepdims = 0});
  Check({.op = "ReduceMean", .x = x, .axes = {2, 3}});  // global average pooling
  Check({.op = "ReduceMean", .x = x, .axes = {1}, .keepdims = 0});
  Check({.op = "ReduceMax", .x = x, .axes = {-1}, .keepdims = 0});
  Check({.op = "ReduceMin", .x = x, .axes = {0, 1}});
  Check({.op = "ReduceMean", .x = x, .axes = {2, 3}, .axes_input = true, .opset = 18});
}

TEST(TacticReduce, OtherAxisSetsAllAndNone) {
  const Shape x({4, 3, 6, 5});
  Check({.op = "ReduceSum", .x = x, .axes = {0, 2}, .axes_input = true});
  Check({.op = "ReduceMax", .x = x, .axes = {1, 3}, .keepdims = 0});
  Check({.op = "ReduceMean", .x = x, .axes = {}});                      // every axis
  Check({.op = "ReduceSum", .x = x, .axes = {}, .axes_input = false});  // every axis, no axes input
  Check({.op = "ReduceSum", .x = x, .axes = {}, .axes_input = true, .noop = 1});  // identity
}

TEST(TacticReduce, LargeEnoughForThreads) {
  Check({.op = "ReduceMean", .x = Shape({8, 96, 28, 28}), .axes = {2, 3}});
  Check({.op = "ReduceMax", .x = Shape({64, 1000}), .axes = {1}});
  Check({.op = "ReduceSum", .x = Shape({64, 300, 8}), .axes = {1}, .axes_input = true});
}

TEST(TacticReduce, AxesInputThatDisagreesWithThePlanFailsTheRun) {
  const ReduceCase r{.op = "ReduceSum", .x = Shape({2, 3, 4}), .axes = {1}, .axes_input = true};
  const LayerCase c = MakeReduce(r);
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.push_back(I64s({1}));
  ASSERT_TRUE(RunPlannedWith(c, run).ok());
  run[1] = I64s({2});  // [2,3,1], not the planned [2,1,4]
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("the axes give shape"), std::string::npos)
      << got.status().message();
  run[1] = I64s({1, -2});  // one axis twice
  got = RunPlannedWith(c, run);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("bad axis -2"), std::string::npos)
      << got.status().message();
}

}  // namespace
}  // namespace refit::cpu::testing
