// Conformance of the Split tactic against the reference executor, bit for bit: every axis,
// even and uneven parts (the split input, the opset-11 attribute), dtypes, and sizes large enough
// for the thread pool.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeSplit(const Shape& x, int64_t axis, int outputs, std::vector<int64_t> split = {},
                    DataType dtype = DataType::kF32, int64_t opset = 13) {
  LayerCase c;
  c.opset = opset;
  c.node = MakeNode("Split", 1);
  c.node.outputs.clear();
  for (int i = 0; i < outputs; ++i) c.node.outputs.push_back("y" + std::to_string(i));
  SetAttr(c.node, "axis", axis);
  c.inputs.push_back(RandomOf(dtype, x, 5));
  c.weight = {false};
  if (!split.empty()) {
    if (opset >= 13) {
      c.node.inputs.push_back("in1");
      c.inputs.push_back(I64s(split));
      c.weight.push_back(true);
    } else {
      SetAttr(c.node, "split", split);
    }
  }
  return c;
}

TEST(TacticSplit, EveryAxisEvenAndUneven) {
  const Shape x({4, 6, 9});
  for (int64_t axis : {0, 1, 2, -1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    CheckExact(MakeSplit(x, axis, 2, {}), "split/memcpy");
  }
  CheckExact(MakeSplit(x, 2, 3, {2, 3, 4}), "split/memcpy");
  CheckExact(MakeSplit(x, 1, 3, {1, 4, 1}), "split/memcpy");
  CheckExact(MakeSplit(x, 0, 2, {3, 1}, DataType::kF32, 11), "split/memcpy");  // attribute
  // Attention's q, k, v from one projection (batch, tokens, 3, heads, head_dim).
  CheckExact(MakeSplit(Shape({2, 65, 3, 4, 16}), 2, 3, {}), "split/memcpy");
}

TEST(TacticSplit, DtypesAndThreads) {
  for (DataType dtype : {DataType::kF16, DataType::kI64, DataType::kU8, DataType::kBool}) {
    SCOPED_TRACE(DataTypeName(dtype));
    CheckExact(MakeSplit(Shape({3, 10}), 1, 2, {4, 6}, dtype), "split/memcpy");
  }
  CheckExact(MakeSplit(Shape({8, 64, 384}), 2, 3, {}), "split/memcpy");
  CheckExact(MakeSplit(Shape({2, 256, 96}), 0, 2, {}), "split/memcpy");
}

}  // namespace
}  // namespace refit::cpu::testing
