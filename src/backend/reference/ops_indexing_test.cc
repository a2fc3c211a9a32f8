#include <gtest/gtest.h>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::I64;
using testing::I64s;
using testing::IntAttr;
using testing::Iota;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::Values;

std::vector<Tensor> Inputs(Tensor a, Tensor b = Tensor()) {
  std::vector<Tensor> v;
  v.push_back(std::move(a));
  if (b.defined()) v.push_back(std::move(b));
  return v;
}

TEST(GatherTest, AxisOneWithMatrixAndNegativeIndices) {
  Tensor out = Run1({"Gather", 13, {{"axis", IntAttr(1)}}},
                    Inputs(Iota(Shape{2, 3}), I64(Shape{2, 2}, {-1, 0, 1, 1})));
  ASSERT_EQ(out.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{2, 0, 1, 1, 5, 3, 4, 4}));
}

TEST(GatherTest, ScalarIndexDropsTheAxisForInt64Data) {
  Tensor idx = Tensor::FromVector<int32_t>(Shape{}, {-2});
  Tensor out = Run1({"Gather", 13}, Inputs(I64s({4, 5, 6}), std::move(idx)));
  EXPECT_EQ(out.shape(), Shape{});
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{5}));
  EXPECT_FALSE(RunNode({"Gather", 13}, Inputs(I64s({4, 5, 6}), I64s({3}))).ok());
}

TEST(TriluTest, UpperAndLowerWithK) {
  Tensor upper = Run1({"Trilu", 14}, Inputs(Iota(Shape{3, 3}), I64(Shape{}, {1})));
  EXPECT_EQ(Values<float>(upper), (std::vector<float>{0, 1, 2, 0, 0, 5, 0, 0, 0}));
  Tensor lower = Run1({"Trilu", 14, {{"upper", IntAttr(0)}}},
                      Inputs(Iota(Shape{2, 2, 3}), I64(Shape{}, {-1})));
  EXPECT_EQ(Values<float>(lower), (std::vector<float>{0, 0, 0, 3, 0, 0, 0, 0, 0, 9, 0, 0}));
  Tensor all =
      Run1({"Trilu", 14, {{"upper", IntAttr(0)}}}, Inputs(Iota(Shape{2, 2}), I64(Shape{}, {5})));
  EXPECT_EQ(Values<float>(all), (std::vector<float>{0, 1, 2, 3}));
}

TEST(CumSumTest, ExclusiveReverseAndAxis) {
  auto run = [](int64_t exclusive, int64_t reverse) {
    return Values<float>(
        Run1({"CumSum", 14, {{"exclusive", IntAttr(exclusive)}, {"reverse", IntAttr(reverse)}}},
             Inputs(F32(Shape{4}, {1, 2, 3, 4}), I64(Shape{}, {0}))));
  };
  EXPECT_EQ(run(0, 0), (std::vector<float>{1, 3, 6, 10}));
  EXPECT_EQ(run(1, 0), (std::vector<float>{0, 1, 3, 6}));
  EXPECT_EQ(run(0, 1), (std::vector<float>{10, 9, 7, 4}));
  EXPECT_EQ(run(1, 1), (std::vector<float>{9, 7, 4, 0}));
  Tensor x = Tensor::FromVector<int32_t>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axis = Tensor::FromVector<int32_t>(Shape{}, {-2});
  Tensor out = Run1({"CumSum", 14}, Inputs(std::move(x), std::move(axis)));
  EXPECT_EQ(Values<int32_t>(out), (std::vector<int32_t>{1, 2, 3, 5, 7, 9}));
}

TEST(TopKTest, TiesGoToTheLowerIndex) {
  NodeSpec spec{"TopK", 11, {{"axis", IntAttr(1)}}, 2};
  auto r = RunNode(spec, Inputs(F32(Shape{2, 4}, {3, 1, 3, 2, 0, 5, 5, 5}), I64s({3})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 3, 2, 5, 5, 5}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{0, 2, 3, 1, 2, 3}));

  NodeSpec smallest{"TopK", 11, {{"axis", IntAttr(0)}, {"largest", IntAttr(0)}}, 2};
  auto s = RunNode(smallest, Inputs(F32(Shape{3, 1}, {2, 1, 1}), I64s({2})));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Values<float>((*s)[0]), (std::vector<float>{1, 1}));
  EXPECT_EQ(Values<int64_t>((*s)[1]), (std::vector<int64_t>{1, 2}));

  EXPECT_FALSE(RunNode(spec, Inputs(F32(Shape{1, 2}, {1, 2}), I64s({3}))).ok());
}

TEST(TopKTest, HalfValuesCompareAsNumbers) {
  // Raw bit patterns would order -1 (0xBC00) above 2 (0x4000); values must compare as floats.
  Tensor x = Tensor::FromVector<Half>(Shape{4}, {Half(-1.0f), Half(2.0f), Half(0.5f), Half(-3.0f)});
  NodeSpec spec{"TopK", 11, {}, 2};
  auto r = RunNode(spec, Inputs(std::move(x), I64s({2})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)[0].dtype(), DataType::kF16);
  EXPECT_EQ(float((*r)[0].data_as<Half>()[0]), 2.0f);
  EXPECT_EQ(float((*r)[0].data_as<Half>()[1]), 0.5f);
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{1, 2}));
}

TEST(CumSumTest, BFloat16AccumulatesThroughFloat) {
  Tensor x =
      Tensor::FromVector<BFloat16>(Shape{3}, {BFloat16(1.0f), BFloat16(2.0f), BFloat16(-4.0f)});
  Tensor out = Run1({"CumSum", 14}, Inputs(std::move(x), I64(Shape{}, {0})));
  ASSERT_EQ(out.dtype(), DataType::kBF16);
  EXPECT_EQ(float(out.data_as<BFloat16>()[0]), 1.0f);
  EXPECT_EQ(float(out.data_as<BFloat16>()[1]), 3.0f);
  EXPECT_EQ(float(out.data_as<BFloat16>()[2]), -1.0f);
}

TEST(ArgMaxTest, KeepdimsAndSelectLastIndex) {
  Tensor x = F32(Shape{2, 3}, {1, 4, 4, 7, 7, 2});
  Tensor first = Run1({"ArgMax", 13, {{"axis", IntAttr(1)}}}, Inputs(x.Clone()));
  EXPECT_EQ(first.shape(), (Shape{2, 1}));
  EXPECT_EQ(Values<int64_t>(first), (std::vector<int64_t>{1, 0}));
  Tensor last =
      Run1({"ArgMax",
            13,
            {{"axis", IntAttr(-1)}, {"keepdims", IntAttr(0)}, {"select_last_index", IntAttr(1)}}},
           Inputs(x.Clone()));
  EXPECT_EQ(last.shape(), (Shape{2}));
  EXPECT_EQ(Values<int64_t>(last), (std::vector<int64_t>{2, 1}));
  Tensor cols = Run1({"ArgMax", 13}, Inputs(x.Clone()));
  EXPECT_EQ(Values<int64_t>(cols), (std::vector<int64_t>{1, 1, 0}));
  Tensor argmin = Run1({"ArgMin", 13, {{"axis", IntAttr(1)}}}, Inputs(x.Clone()));
  EXPECT_EQ(Values<int64_t>(argmin), (std::vector<int64_t>{0, 2}));
}

}  // namespace
}  // namespace refit::reference
