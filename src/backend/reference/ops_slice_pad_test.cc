#include <gtest/gtest.h>

#include <limits>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::I64s;
using testing::IntsAttr;
using testing::Iota;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::StringAttr;
using testing::Values;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

std::vector<float> Slice1D(std::vector<int64_t> starts, std::vector<int64_t> ends,
                           std::vector<int64_t> steps) {
  std::vector<Tensor> in;
  in.push_back(Iota(Shape{10}));
  in.push_back(I64s(starts));
  in.push_back(I64s(ends));
  in.push_back(I64s({0}));
  in.push_back(I64s(steps));
  return Values<float>(Run1({"Slice", 13}, std::move(in)));
}

TEST(SliceTest, ClampsAndStepsLikeTheSpec) {
  EXPECT_EQ(Slice1D({-3}, {kMax}, {1}), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(Slice1D({-100}, {3}, {1}), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(Slice1D({20}, {30}, {1}), (std::vector<float>{}));
  EXPECT_EQ(Slice1D({1}, {8}, {3}), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(Slice1D({8}, {kMin}, {-3}), (std::vector<float>{8, 5, 2}));
  EXPECT_EQ(Slice1D({kMax}, {-12}, {-4}), (std::vector<float>{9, 5, 1}));
  EXPECT_EQ(Slice1D({2}, {5}, {-1}), (std::vector<float>{}));
}

TEST(SliceTest, NegativeStepsOnSeveralAxes) {
  std::vector<Tensor> in;
  in.push_back(Iota(Shape{20, 10, 5}));
  in.push_back(I64s({20, 10, 4}));
  in.push_back(I64s({0, 0, 1}));
  in.push_back(I64s({0, 1, 2}));
  in.push_back(I64s({-1, -3, -2}));
  Tensor out = Run1({"Slice", 13}, std::move(in));
  ASSERT_EQ(out.shape(), (Shape{19, 3, 2}));
  const std::vector<float> v = Values<float>(out);
  for (int i = 0; i < 19; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 2; ++k) {
        const int src = (19 - i) * 50 + (9 - 3 * j) * 5 + (4 - 2 * k);
        EXPECT_EQ(v[size_t((i * 3 + j) * 2 + k)], float(src));
      }
    }
  }
}

TEST(SliceTest, DefaultAxesAndOpset9Attributes) {
  std::vector<Tensor> in;
  in.push_back(Iota(Shape{3, 4}));
  in.push_back(I64s({1, -2}));
  in.push_back(I64s({2, kMax}));
  Tensor out = Run1({"Slice", 13}, std::move(in));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{6, 7}));

  std::vector<Tensor> old;
  old.push_back(Iota(Shape{3, 4}));
  Tensor o =
      Run1({"Slice",
            9,
            {{"starts", IntsAttr({1})}, {"ends", IntsAttr({1000})}, {"axes", IntsAttr({1})}}},
           std::move(old));
  ASSERT_EQ(o.shape(), (Shape{3, 3}));
  EXPECT_EQ(Values<float>(o)[3], 5.0f);
}

std::vector<int32_t> Pad1D(const std::string& mode, std::vector<int64_t> pads) {
  std::vector<Tensor> in;
  in.push_back(Tensor::FromVector<int32_t>(Shape{1, 3}, {1, 2, 3}));
  in.push_back(I64s(pads));
  return Values<int32_t>(Run1({"Pad", 13, {{"mode", StringAttr(mode)}}}, std::move(in)));
}

TEST(PadTest, ModesMatchNumpy) {
  EXPECT_EQ(Pad1D("constant", {0, 2, 0, 1}), (std::vector<int32_t>{0, 0, 1, 2, 3, 0}));
  EXPECT_EQ(Pad1D("reflect", {0, 2, 0, 1}), (std::vector<int32_t>{3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(Pad1D("edge", {0, 2, 0, 1}), (std::vector<int32_t>{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(Pad1D("wrap", {0, 2, 0, 1}), (std::vector<int32_t>{2, 3, 1, 2, 3, 1}));
  EXPECT_EQ(Pad1D("reflect", {0, 5, 0, 0}), (std::vector<int32_t>{2, 1, 2, 3, 2, 1, 2, 3}));
  // Negative pads crop.
  EXPECT_EQ(Pad1D("constant", {0, -1, 0, 1}), (std::vector<int32_t>{2, 3, 0}));
}

TEST(PadTest, ConstantValueInputAndAttribute) {
  std::vector<Tensor> in;
  in.push_back(F32(Shape{2, 1}, {1, 2}));
  in.push_back(I64s({1, 0, 0, 1}));
  in.push_back(F32(Shape{}, {-5}));
  Tensor out = Run1({"Pad", 13}, std::move(in));
  ASSERT_EQ(out.shape(), (Shape{3, 2}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{-5, -5, 1, -5, 2, -5}));

  std::vector<Tensor> old;
  old.push_back(F32(Shape{2}, {1, 2}));
  Tensor o = Run1({"Pad", 2, {{"pads", IntsAttr({1, 1})}, {"value", testing::FloatAttr(7)}}},
                  std::move(old));
  EXPECT_EQ(Values<float>(o), (std::vector<float>{7, 1, 2, 7}));

  std::vector<Tensor> wrong;
  wrong.push_back(F32(Shape{2}, {1, 2}));
  wrong.push_back(I64s({1}));
  EXPECT_FALSE(RunNode({"Pad", 13}, std::move(wrong)).ok());
}

}  // namespace
}  // namespace refit::reference
