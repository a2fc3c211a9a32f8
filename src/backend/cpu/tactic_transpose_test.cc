// Conformance of the Transpose tactic against the reference executor, bit for bit: every
// permutation of ranks 2-4, axes of size 1, merged axes, the default (reversing) permutation,
// dtypes of every element size, and sizes large enough for the thread pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeTranspose(const Shape& x, const std::vector<int64_t>& perm,
                        DataType dtype = DataType::kF32, uint32_t seed = 7) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Transpose", 1);
  if (!perm.empty()) SetAttr(c.node, "perm", perm);
  c.inputs.push_back(RandomOf(dtype, x, seed));
  c.weight = {false};
  return c;
}

TEST(TacticTranspose, EveryPermutationOfRanksTwoToFour) {
  const std::vector<Shape> shapes = {Shape({5, 7}), Shape({3, 5, 7}), Shape({2, 3, 5, 7}),
                                     Shape({2, 1, 17, 19}), Shape({1, 33, 1, 18})};
  for (const Shape& x : shapes) {
    std::vector<int64_t> perm(x.rank());
    std::iota(perm.begin(), perm.end(), 0);
    do {
      SCOPED_TRACE(x.ToString() + " perm " + Shape(perm).ToString());
      CheckExact(MakeTranspose(x, perm), "transpose/tiled");
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST(TacticTranspose, DefaultPermutationDtypesAndAttentionShapes) {
  CheckExact(MakeTranspose(Shape({4, 6, 9}), {}), "transpose/tiled");  // reverses the axes
  for (DataType dtype : {DataType::kF16, DataType::kU8, DataType::kI64, DataType::kBool}) {
    SCOPED_TRACE(DataTypeName(dtype));
    CheckExact(MakeTranspose(Shape({3, 10, 21}), {2, 0, 1}, dtype), "transpose/tiled");
  }
  // Attention head split and merge (batch, tokens, 3, heads, head_dim).
  CheckExact(MakeTranspose(Shape({2, 65, 3, 4, 16}), {2, 0, 3, 1, 4}), "transpose/tiled");
  CheckExact(MakeTranspose(Shape({2, 4, 65, 16}), {0, 2, 1, 3}), "transpose/tiled");
  CheckExact(MakeTranspose(Shape({2, 4, 65, 16}), {0, 1, 3, 2}), "transpose/tiled");
  // Nothing moves: every axis but one is of size 1.
  CheckExact(MakeTranspose(Shape({1, 37, 1}), {2, 1, 0}), "transpose/tiled");
}

TEST(TacticTranspose, LargeEnoughForThreads) {
  CheckExact(MakeTranspose(Shape({8, 64, 130}), {0, 2, 1}), "transpose/tiled");
  CheckExact(MakeTranspose(Shape({4, 96, 40, 3}), {0, 3, 1, 2}), "transpose/tiled");
}

}  // namespace
}  // namespace refit::cpu::testing
