// Conformance of the Concat tactic against the reference executor, bit for bit: every axis
// (negative ones too), odd sizes, several dtypes, an empty input, blocks split into chunks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeConcat(int64_t axis, DataType dtype, const std::vector<Shape>& shapes,
                     bool weights = false) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Concat", shapes.size());
  SetAttr(c.node, "axis", axis);
  for (size_t i = 0; i < shapes.size(); ++i) {
    c.inputs.push_back(RandomOf(dtype, shapes[i], uint32_t(31 + i)));
    c.weight.push_back(weights && i % 2 == 1);
  }
  return c;
}

// Three inputs of [2, 3, 5, 7] that differ along `axis` (in [0, 4)).
std::vector<Shape> Along(size_t axis) {
  std::vector<Shape> shapes;
  for (int64_t d : {1, 4, 3}) {
    Shape s({2, 3, 5, 7});
    s[axis] = d;
    shapes.push_back(s);
  }
  return shapes;
}

TEST(TacticConcat, EveryAxis) {
  for (int64_t axis = -4; axis < 4; ++axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    CheckExact(MakeConcat(axis, DataType::kF32, Along(size_t(axis < 0 ? axis + 4 : axis))),
               "concat/memcpy");
  }
}

TEST(TacticConcat, DtypesRanksAndWeights) {
  for (DataType dtype : {DataType::kI64, DataType::kF16, DataType::kU8, DataType::kBool}) {
    CheckExact(MakeConcat(1, dtype, Along(1)), "concat/memcpy");
    CheckExact(MakeConcat(-1, dtype, Along(3)), "concat/memcpy");
  }
  // A shape computation: i64 vectors, one input a constant weight.
  CheckExact(MakeConcat(0, DataType::kI64, {Shape({1}), Shape({3}), Shape({2})}, true),
             "concat/memcpy");
  CheckExact(MakeConcat(0, DataType::kF32, {Shape({5, 3})}), "concat/memcpy");
  // An input empty along the axis.
  CheckExact(MakeConcat(1, DataType::kF32, {Shape({2, 3, 4}), Shape({2, 0, 4}), Shape({2, 1, 4})}),
             "concat/memcpy");
}

TEST(TacticConcat, LargeBlocksSplitAcrossThreads) {
  // Axis 0: a single row whose blocks (150 KiB, 50 KiB) span several chunks each.
  CheckExact(MakeConcat(0, DataType::kF32, {Shape({300, 128}), Shape({100, 128})}),
             "concat/memcpy");
  // Many rows of small blocks.
  CheckExact(MakeConcat(2, DataType::kF32, {Shape({4, 64, 40, 9}), Shape({4, 64, 40, 9})}),
             "concat/memcpy");
  CheckExact(MakeConcat(3, DataType::kF32, {Shape({4, 64, 40, 9}), Shape({4, 64, 40, 3})}),
             "concat/memcpy");
}

}  // namespace
}  // namespace refit::cpu::testing
