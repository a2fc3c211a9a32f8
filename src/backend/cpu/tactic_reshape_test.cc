// Conformance of the shape-only tactic ("reshape/alias") against the reference executor, bit for
// bit, with its output a separate buffer and (CheckAllTactics) the input's own bytes: Reshape,
// Flatten, Squeeze, Unsqueeze and Identity, several dtypes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase OneInput(const std::string& op, const Shape& x, DataType dtype = DataType::kF32) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode(op, 1);
  c.inputs.push_back(RandomOf(dtype, x, 3));
  c.weight = {false};
  return c;
}

LayerCase WithIndices(const std::string& op, const Shape& x, std::vector<int64_t> values,
                      DataType dtype = DataType::kF32) {
  LayerCase c = OneInput(op, x, dtype);
  c.node.inputs.push_back("in1");
  c.inputs.push_back(I64s(std::move(values)));
  c.weight.push_back(true);
  return c;
}

TEST(TacticReshape, EveryShapeOnlyOperator) {
  CheckExact(WithIndices("Reshape", Shape({2, 3, 4}), {6, -1}), "reshape/alias");
  CheckExact(WithIndices("Reshape", Shape({2, 3, 4}), {0, 12}), "reshape/alias");
  CheckExact(WithIndices("Squeeze", Shape({2, 1, 4, 1}), {1, -1}), "reshape/alias");
  CheckExact(WithIndices("Unsqueeze", Shape({2, 4}), {0, 3}), "reshape/alias");
  LayerCase flatten = OneInput("Flatten", Shape({2, 3, 4, 5}));
  SetAttr(flatten.node, "axis", int64_t{2});
  CheckExact(flatten, "reshape/alias");
  CheckExact(OneInput("Identity", Shape({7, 3})), "reshape/alias");
  for (DataType dtype : {DataType::kF16, DataType::kI64, DataType::kU8, DataType::kBool}) {
    SCOPED_TRACE(DataTypeName(dtype));
    CheckExact(WithIndices("Reshape", Shape({4, 6}), {3, 8}, dtype), "reshape/alias");
  }
}

TEST(TacticReshape, AWeightInputIsNotAliased) {
  // A constant reshaped is a weight slot, not an activation buffer: the reference runs it.
  LayerCase c = WithIndices("Reshape", Shape({2, 6}), {12});
  c.weight[0] = true;
  for (const std::string& name : TacticNames(c)) EXPECT_NE(name, "reshape/alias");
}

}  // namespace
}  // namespace refit::cpu::testing
