#include <gtest/gtest.h>

#include <cmath>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::Ins;
using testing::IntAttr;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::Values;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  testing::ExpectNear(got, want, tol);
}

TEST(SoftmaxTest, DefaultAxisIsLastAtOpset13) {
  Tensor y = Run1({"Softmax", 13}, Ins(F32({2, 3}, {1, 2, 3, 0, 0, 0})));
  ExpectNear(Values<float>(y), {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
}

TEST(SoftmaxTest, MiddleAxisAtOpset13) {
  // Shape [1, 2, 2], axis 1: pairs (x[0][0][j], x[0][1][j]) are normalised together.
  Tensor y = Run1({"Softmax", 13, {{"axis", IntAttr(1)}}}, Ins(F32({1, 2, 2}, {0, 1, 0, 3})));
  const float e2 = 1 / (1 + std::exp(2.f));
  ExpectNear(Values<float>(y), {0.5f, e2, 0.5f, 1 - e2});
}

TEST(SoftmaxTest, Opset11CoercesTo2D) {
  // axis 1 of [1, 2, 2] flattens to one row of 4 before opset 13.
  Tensor y = Run1({"Softmax", 11, {{"axis", IntAttr(1)}}}, Ins(F32({1, 2, 2}, {0, 0, 0, 0})));
  ExpectNear(Values<float>(y), {0.25f, 0.25f, 0.25f, 0.25f});
  // Default axis is 1 there, not -1.
  Tensor d = Run1({"Softmax", 11}, Ins(F32({1, 2, 2}, {0, 0, 0, 0})));
  ExpectNear(Values<float>(d), {0.25f, 0.25f, 0.25f, 0.25f});
}

TEST(SoftmaxTest, LogSoftmaxLargeNumbers) {
  Tensor y = Run1({"LogSoftmax", 13}, Ins(F32({2}, {1000, 1001})));
  ExpectNear(Values<float>(y), {-1.3132617f, -0.3132617f}, 1e-5f);
  Tensor s = Run1({"Softmax", 13}, Ins(F32({2}, {10000, 10000})));
  ExpectNear(Values<float>(s), {0.5f, 0.5f});
}

TEST(SoftmaxTest, HardmaxPicksFirstMaximum) {
  Tensor y = Run1({"Hardmax", 13}, Ins(F32({2, 3}, {1, 3, 3, -1, -2, -3})));
  EXPECT_EQ(Values<float>(y), (std::vector<float>{0, 1, 0, 1, 0, 0}));
}

TEST(SoftmaxTest, Float64Supported) {
  Tensor y = Run1({"Softmax", 13}, Ins(Tensor::FromVector<double>({2}, {0, std::log(3.0)})));
  const std::vector<double> v = Values<double>(y);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_NEAR(v[0], 0.25, 1e-15);
  EXPECT_NEAR(v[1], 0.75, 1e-15);
}

TEST(SoftmaxTest, RejectsAxisOutOfRange) {
  EXPECT_FALSE(
      RunNode({"Softmax", 13, {{"axis", IntAttr(2)}}}, Ins(F32({2, 2}, {0, 0, 0, 0}))).ok());
}

}  // namespace
}  // namespace refit::reference
