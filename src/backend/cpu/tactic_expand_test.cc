// Conformance of the Expand tactic against the reference executor, bit for bit: shapes of lower,
// equal and higher rank, size-1 axes in either operand, dtypes, sizes large enough for threads; a
// shape that does not give the planned output fails the run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeExpand(Tensor x, std::vector<int64_t> shape) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Expand", 2);
  c.inputs.push_back(std::move(x));
  c.inputs.push_back(I64s(std::move(shape)));
  c.weight = {false, true};
  return c;
}

TEST(TacticExpand, EveryKindOfShape) {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {Shape({3, 1}), {3, 4}},
      {Shape({3, 1}), {2, 1, 6}},
      {Shape({1}), {5}},
      {Shape({2, 3}), {2, 3}},
      {Shape({4, 1, 6}), {4, 5, 6}},
      {Shape({4, 5}), {1}},
      {Shape(std::vector<int64_t>{}), {2, 3}},
  };
  for (DataType dtype : {DataType::kF32, DataType::kI64, DataType::kBool, DataType::kF16}) {
    for (const auto& [x, shape] : cases) {
      SCOPED_TRACE(std::string(DataTypeName(dtype)) + " " + x.ToString() + " to " +
                   Shape(shape).ToString());
      CheckExact(MakeExpand(RandomOf(dtype, x, 3), shape), "expand/broadcast");
    }
  }
}

TEST(TacticExpand, LargeEnoughForThreads) {
  CheckExact(MakeExpand(RandomOf(DataType::kF32, Shape({1, 1, 197, 64}), 4), {8, 4, 197, 64}),
             "expand/broadcast");
  CheckExact(MakeExpand(RandomOf(DataType::kF32, Shape({256, 1}), 5), {256, 512}),
             "expand/broadcast");
}

TEST(TacticExpand, AShapeThatGivesAnotherOutputFailsTheRun) {
  const LayerCase c = MakeExpand(RandomOf(DataType::kF32, Shape({3, 1}), 6), {3, 4});
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.push_back(I64s({3, 5}));
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("does not give the planned output"), std::string::npos)
      << got.status().message();
  run[1] = I64s({3, 4});
  EXPECT_TRUE(RunPlannedWith(c, run).ok());
}

}  // namespace
}  // namespace refit::cpu::testing
