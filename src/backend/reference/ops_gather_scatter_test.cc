#include <gtest/gtest.h>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::I64;
using testing::IntAttr;
using testing::Iota;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::StringAttr;
using testing::Values;

std::vector<Tensor> Inputs(Tensor a, Tensor b, Tensor c = Tensor()) {
  std::vector<Tensor> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  if (c.defined()) v.push_back(std::move(c));
  return v;
}

// data = [[0 1 2] [3 4 5]]
TEST(GatherElementsTest, AxisZeroAndOneWithNegativeIndices) {
  Tensor a1 = Run1({"GatherElements", 13, {{"axis", IntAttr(1)}}},
                   Inputs(Iota(Shape{2, 3}), I64(Shape{2, 2}, {-1, 0, 1, 1})));
  ASSERT_EQ(a1.shape(), (Shape{2, 2}));
  EXPECT_EQ(Values<float>(a1), (std::vector<float>{2, 0, 4, 4}));
  // Indices smaller than data on the non-axis dimension.
  Tensor a0 = Run1({"GatherElements", 13, {{"axis", IntAttr(0)}}},
                   Inputs(Iota(Shape{2, 3}), I64(Shape{1, 2}, {1, -2})));
  EXPECT_EQ(Values<float>(a0), (std::vector<float>{3, 1}));
}

TEST(GatherElementsTest, OutOfRangeIndexNamesTheNode) {
  auto r = RunNode({"GatherElements", 13, {{"axis", IntAttr(1)}}},
                   Inputs(Iota(Shape{2, 3}), I64(Shape{1, 1}, {3})));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("'n'"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().ToString().find("out of range"), std::string::npos);
}

TEST(GatherNDTest, TuplesSlicesAndBatchDims) {
  // Full tuples pick elements; a 1-tuple picks rows.
  Tensor full = Run1({"GatherND", 13}, Inputs(Iota(Shape{2, 3}), I64(Shape{2, 2}, {1, 2, 0, -1})));
  ASSERT_EQ(full.shape(), (Shape{2}));
  EXPECT_EQ(Values<float>(full), (std::vector<float>{5, 2}));
  Tensor rows = Run1({"GatherND", 13}, Inputs(Iota(Shape{2, 3}), I64(Shape{1, 1}, {1})));
  ASSERT_EQ(rows.shape(), (Shape{1, 3}));
  EXPECT_EQ(Values<float>(rows), (std::vector<float>{3, 4, 5}));
  // batch_dims=1 on data [2,2,2] = 0..7: batch 0 picks row 1 -> {2,3}, batch 1 row 0 -> {4,5}.
  Tensor batched = Run1({"GatherND", 13, {{"batch_dims", IntAttr(1)}}},
                        Inputs(Iota(Shape{2, 2, 2}), I64(Shape{2, 1}, {1, 0})));
  ASSERT_EQ(batched.shape(), (Shape{2, 2}));
  EXPECT_EQ(Values<float>(batched), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_FALSE(RunNode({"GatherND", 13}, Inputs(Iota(Shape{2, 3}), I64(Shape{1, 2}, {2, 0}))).ok());
}

TEST(ScatterElementsTest, NoneAddMulWithDuplicates) {
  auto run = [](const std::string& reduction) {
    return Values<float>(
        Run1({"ScatterElements", 16, {{"axis", IntAttr(1)}, {"reduction", StringAttr(reduction)}}},
             Inputs(F32(Shape{1, 4}, {1, 2, 3, 4}), I64(Shape{1, 3}, {1, -1, 1}),
                    F32(Shape{1, 3}, {10, 20, 30}))));
  };
  EXPECT_EQ(run("none"), (std::vector<float>{1, 30, 3, 20}));
  EXPECT_EQ(run("add"), (std::vector<float>{1, 42, 3, 24}));
  EXPECT_EQ(run("mul"), (std::vector<float>{1, 600, 3, 80}));
  EXPECT_FALSE(RunNode({"ScatterElements", 16, {{"reduction", StringAttr("max")}}},
                       Inputs(F32(Shape{2}, {1, 2}), I64(Shape{1}, {0}), F32(Shape{1}, {5})))
                   .ok());
}

TEST(ScatterElementsTest, Int64DataAxisZero) {
  Tensor out = Run1(
      {"ScatterElements", 13},
      Inputs(I64(Shape{2, 2}, {1, 2, 3, 4}), I64(Shape{1, 2}, {1, 0}), I64(Shape{1, 2}, {7, 8})));
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{1, 8, 7, 4}));
}

TEST(ScatterNDTest, RowsElementsAndReductions) {
  // Replace row -1 of a [3,2] matrix; then add into element (0,1) twice.
  Tensor rows = Run1({"ScatterND", 13},
                     Inputs(Iota(Shape{3, 2}), I64(Shape{1, 1}, {-1}), F32(Shape{1, 2}, {9, 8})));
  EXPECT_EQ(Values<float>(rows), (std::vector<float>{0, 1, 2, 3, 9, 8}));
  Tensor add =
      Run1({"ScatterND", 16, {{"reduction", StringAttr("add")}}},
           Inputs(Iota(Shape{3, 2}), I64(Shape{2, 2}, {0, 1, 0, 1}), F32(Shape{2}, {10, 100})));
  EXPECT_EQ(Values<float>(add), (std::vector<float>{0, 111, 2, 3, 4, 5}));
  Tensor mul =
      Run1({"ScatterND", 16, {{"reduction", StringAttr("mul")}}},
           Inputs(Iota(Shape{3, 2}), I64(Shape{2, 1}, {2, 1}), F32(Shape{2, 2}, {2, 3, 4, 5})));
  EXPECT_EQ(Values<float>(mul), (std::vector<float>{0, 1, 8, 15, 8, 15}));
}

TEST(ScatterNDTest, BadShapesAndIndicesFail) {
  // updates must be [1, 2] here.
  EXPECT_FALSE(RunNode({"ScatterND", 13}, Inputs(Iota(Shape{3, 2}), I64(Shape{1, 1}, {0}),
                                                 F32(Shape{1, 3}, {1, 2, 3})))
                   .ok());
  EXPECT_FALSE(RunNode({"ScatterND", 13},
                       Inputs(Iota(Shape{3, 2}), I64(Shape{1, 1}, {-4}), F32(Shape{1, 2}, {1, 2})))
                   .ok());
}

}  // namespace
}  // namespace refit::reference
