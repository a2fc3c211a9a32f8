#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::I64s;
using testing::Ins;
using testing::IntAttr;
using testing::IntsAttr;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::Values;

TEST(ReduceTest, SumAxesAsInputAtOpset13) {
  Tensor y = Run1({"ReduceSum", 13, {{"keepdims", IntAttr(0)}}},
                  Ins(F32({2, 2}, {1, 2, 3, 4}), I64s({1})));
  EXPECT_EQ(y.shape(), Shape({2}));
  EXPECT_EQ(Values<float>(y), (std::vector<float>{3, 7}));
}

TEST(ReduceTest, SumAxesAsAttributeBeforeOpset13) {
  Tensor y = Run1({"ReduceSum", 11, {{"axes", IntsAttr({0})}}}, Ins(F32({2, 2}, {1, 2, 3, 4})));
  EXPECT_EQ(y.shape(), Shape({1, 2}));
  EXPECT_EQ(Values<float>(y), (std::vector<float>{4, 6}));
}

TEST(ReduceTest, EmptyAxesReduceAllOrNoop) {
  Tensor all = Run1({"ReduceSum", 13}, Ins(F32({2, 2}, {1, 2, 3, 4}), I64s({})));
  EXPECT_EQ(all.shape(), Shape({1, 1}));
  EXPECT_EQ(Values<float>(all), (std::vector<float>{10}));
  Tensor noop = Run1({"ReduceSum", 13, {{"noop_with_empty_axes", IntAttr(1)}}},
                     Ins(F32({2, 2}, {1, 2, 3, 4}), I64s({})));
  EXPECT_EQ(noop.shape(), Shape({2, 2}));
  EXPECT_EQ(Values<float>(noop), (std::vector<float>{1, 2, 3, 4}));
}

TEST(ReduceTest, IntegerMaxMinSumWithNegativeAxis) {
  auto run = [](const char* op) {
    return Run1({op, 13, {{"axes", IntsAttr({-1})}, {"keepdims", IntAttr(0)}}},
                Ins(Tensor::FromVector<int32_t>({2, 3}, {5, -7, 2, 100, 3, -1})));
  };
  EXPECT_EQ(Values<int32_t>(run("ReduceMax")), (std::vector<int32_t>{5, 100}));
  EXPECT_EQ(Values<int32_t>(run("ReduceMin")), (std::vector<int32_t>{-7, -1}));
  Tensor sum = Run1({"ReduceSum", 13, {{"keepdims", IntAttr(0)}}},
                    Ins(Tensor::FromVector<int64_t>({2, 3}, {5, -7, 2, 100, 3, -1}), I64s({-1})));
  EXPECT_EQ(Values<int64_t>(sum), (std::vector<int64_t>{0, 102}));
}

TEST(ReduceTest, EmptyAxisGivesIdentityElement) {
  auto run = [](const char* op, Tensor x) {
    return Run1({op, 13, {{"axes", IntsAttr({1})}, {"keepdims", IntAttr(0)}}}, Ins(std::move(x)));
  };
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Values<float>(run("ReduceMax", F32({2, 0}, {}))), (std::vector<float>{-inf, -inf}));
  EXPECT_EQ(Values<float>(run("ReduceMin", F32({2, 0}, {}))), (std::vector<float>{inf, inf}));
  EXPECT_EQ(Values<float>(run("ReduceSum", F32({2, 0}, {}))), (std::vector<float>{0, 0}));
  EXPECT_EQ(Values<int32_t>(run("ReduceMax", Tensor::FromVector<int32_t>({1, 0}, {}))),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::lowest()}));
}

TEST(ReduceTest, MeanL2AndLogSumExp) {
  auto run = [](const char* op, Tensor x) {
    return Run1({op, 13, {{"keepdims", IntAttr(0)}}}, Ins(std::move(x)));
  };
  EXPECT_EQ(Values<float>(run("ReduceMean", F32({4}, {1, 2, 3, 6}))), (std::vector<float>{3}));
  EXPECT_EQ(Values<float>(run("ReduceL2", F32({2}, {3, -4}))), (std::vector<float>{5}));
  // Naive exp(1000) overflows; the shifted form gives 1000 + log 2.
  const std::vector<double> lse =
      Values<double>(run("ReduceLogSumExp", Tensor::FromVector<double>({2}, {1000, 1000})));
  ASSERT_EQ(lse.size(), 1u);
  EXPECT_NEAR(lse[0], 1000 + std::log(2.0), 1e-9);
}

TEST(ReduceTest, RejectsBadAxes) {
  for (const auto& axes : {std::vector<int64_t>{2}, std::vector<int64_t>{0, -2}}) {
    auto r = RunNode({"ReduceMax", 13, {{"axes", IntsAttr(axes)}}}, Ins(F32({2, 2}, {1, 2, 3, 4})));
    EXPECT_FALSE(r.ok());
  }
}

}  // namespace
}  // namespace refit::reference
