// Unary, binary, logic and variadic element-wise kernels against hand-computed values.
#include <cmath>
#include <cstdint>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/reference/elementwise_test_util.h"

namespace refit::reference {
namespace {

using ew_test::MakeIntAttr;
using ew_test::MakeStringAttr;
using ew_test::Run1;
using ew_test::ToDoubles;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ElementwiseUnary, AbsNegSignOnFloatsAndIntegers) {
  Tensor f = Tensor::FromVector<float>({4}, {-1.5f, 2.0f, -0.0f, float(kNaN)});
  auto abs = Run1("Abs", {&f});
  ASSERT_TRUE(abs.ok()) << abs.status().ToString();
  EXPECT_EQ(abs->dtype(), DataType::kF32);
  EXPECT_EQ(abs->data_as<float>()[0], 1.5f);
  EXPECT_EQ(abs->data_as<float>()[1], 2.0f);
  EXPECT_TRUE(std::isnan(abs->data_as<float>()[3]));

  // numpy wraps abs(-128) to -128 for int8.
  Tensor i8 = Tensor::FromVector<int8_t>({3}, {-128, -3, 5});
  auto abs8 = Run1("Abs", {&i8});
  ASSERT_TRUE(abs8.ok());
  EXPECT_THAT(ToDoubles(*abs8), ElementsAre(-128, 3, 5));

  Tensor i32 = Tensor::FromVector<int32_t>({2}, {1, -2});
  auto neg = Run1("Neg", {&i32});
  ASSERT_TRUE(neg.ok());
  EXPECT_THAT(ToDoubles(*neg), ElementsAre(-1, 2));

  Tensor s = Tensor::FromVector<float>({4}, {-2.0f, 0.0f, 3.0f, float(kNaN)});
  auto sign = Run1("Sign", {&s});
  ASSERT_TRUE(sign.ok());
  EXPECT_EQ(sign->data_as<float>()[0], -1.0f);
  EXPECT_EQ(sign->data_as<float>()[1], 0.0f);
  EXPECT_EQ(sign->data_as<float>()[2], 1.0f);
  EXPECT_TRUE(std::isnan(sign->data_as<float>()[3]));
}

TEST(ElementwiseUnary, RoundingFunctions) {
  Tensor x = Tensor::FromVector<float>({4}, {-1.5f, 1.2f, 2.5f, 0.5f});
  auto ceil = Run1("Ceil", {&x});
  auto floor = Run1("Floor", {&x});
  auto round = Run1("Round", {&x});
  ASSERT_TRUE(ceil.ok() && floor.ok() && round.ok());
  EXPECT_THAT(ToDoubles(*ceil), ElementsAre(-1, 2, 3, 1));
  EXPECT_THAT(ToDoubles(*floor), ElementsAre(-2, 1, 2, 0));
  EXPECT_THAT(ToDoubles(*round), ElementsAre(-2, 1, 2, 0));  // halves to even
}

TEST(ElementwiseUnary, Transcendentals) {
  Tensor x = Tensor::FromVector<double>({2}, {0.0, 1.0});
  auto exp = Run1("Exp", {&x});
  auto erf = Run1("Erf", {&x});
  auto tanh = Run1("Tanh", {&x});
  ASSERT_TRUE(exp.ok() && erf.ok() && tanh.ok());
  EXPECT_THAT(ToDoubles(*exp), ElementsAre(1.0, DoubleNear(2.718281828459045, 1e-15)));
  EXPECT_THAT(ToDoubles(*erf), ElementsAre(0.0, DoubleNear(0.8427007929497149, 1e-15)));
  EXPECT_THAT(ToDoubles(*tanh), ElementsAre(0.0, DoubleNear(0.7615941559557649, 1e-15)));

  Tensor y = Tensor::FromVector<float>({3}, {4.0f, 2.0f, -4.0f});
  auto sqrt = Run1("Sqrt", {&y});
  auto recip = Run1("Reciprocal", {&y});
  auto log = Run1("Log", {&y});
  ASSERT_TRUE(sqrt.ok() && recip.ok() && log.ok());
  EXPECT_EQ(sqrt->data_as<float>()[0], 2.0f);
  EXPECT_THAT(ToDoubles(*recip), ElementsAre(0.25, 0.5, -0.25));
  EXPECT_NEAR(log->data_as<float>()[1], 0.6931472, 1e-6);
  EXPECT_TRUE(std::isnan(log->data_as<float>()[2]));
}

TEST(ElementwiseUnary, SigmoidSaturatesWithoutNaN) {
  Tensor x = Tensor::FromVector<float>({4}, {0.0f, 2.0f, -1000.0f, 1000.0f});
  auto y = Run1("Sigmoid", {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(ToDoubles(*y), ElementsAre(0.5, DoubleNear(0.8807970779778823, 1e-7), 0.0, 1.0));
}

TEST(ElementwiseUnary, HalfComputesInFloatAndRoundsOnce) {
  Tensor x = Tensor::FromVector<Half>({1}, {Half(1.0f)});
  auto y = Run1("Exp", {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kF16);
  // e = 2.71828...; the nearest binary16 values are 2.716796875 and 2.71875.
  EXPECT_EQ(float(y->data_as<Half>()[0]), 2.71875f);
}

TEST(ElementwiseUnary, NotAndTypeErrors) {
  Tensor b = Tensor::FromVector<bool>({2}, {true, false});
  auto n = Run1("Not", {&b});
  ASSERT_TRUE(n.ok());
  EXPECT_THAT(ToDoubles(*n), ElementsAre(0, 1));

  Tensor i = Tensor::FromVector<int32_t>({1}, {4});
  auto bad = Run1("Sqrt", {&i});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("i32"));
  EXPECT_THAT(bad.status().message(), HasSubstr("Sqrt"));
}

TEST(ElementwiseBinary, AddBroadcastsRowAcrossMatrix) {
  Tensor a = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::FromVector<float>({3}, {10, 20, 30});
  auto y = Run1("Add", {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), Shape({2, 3}));
  EXPECT_THAT(ToDoubles(*y), ElementsAre(11, 22, 33, 14, 25, 36));

  Tensor col = Tensor::FromVector<float>({2, 1}, {100, 200});
  auto z = Run1("Sub", {&b, &col});  // [3] - [2,1] -> [2,3]
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->shape(), Shape({2, 3}));
  EXPECT_THAT(ToDoubles(*z), ElementsAre(-90, -80, -70, -190, -180, -170));
}

TEST(ElementwiseBinary, IntegerArithmeticWrapsAndTruncates) {
  Tensor a = Tensor::FromVector<uint8_t>({2}, {1, 200});
  Tensor b = Tensor::FromVector<uint8_t>({2}, {2, 100});
  auto sub = Run1("Sub", {&a, &b});
  auto add = Run1("Add", {&a, &b});
  ASSERT_TRUE(sub.ok() && add.ok());
  EXPECT_THAT(ToDoubles(*sub), ElementsAre(255, 100));
  EXPECT_THAT(ToDoubles(*add), ElementsAre(3, 44));

  // First values of the ONNX node test test_div_uint8.
  Tensor p = Tensor::FromVector<uint8_t>({3}, {16, 6, 0});
  Tensor q = Tensor::FromVector<uint8_t>({3}, {11, 5, 23});
  auto div8 = Run1("Div", {&p, &q});
  ASSERT_TRUE(div8.ok());
  EXPECT_THAT(ToDoubles(*div8), ElementsAre(1, 1, 0));

  const int32_t kMin = std::numeric_limits<int32_t>::min();
  Tensor x = Tensor::FromVector<int32_t>({6}, {7, -7, 7, -7, 5, kMin});
  Tensor y = Tensor::FromVector<int32_t>({6}, {2, 2, -2, -2, 0, -1});
  auto div = Run1("Div", {&x, &y});
  ASSERT_TRUE(div.ok());
  EXPECT_THAT(ToDoubles(*div), ElementsAre(3, -3, -3, 3, 0, kMin));
}

TEST(ElementwiseBinary, MismatchedShapesAndDtypesAreErrors) {
  Tensor a = Tensor::FromVector<float>({2}, {1, 2});
  Tensor b = Tensor::FromVector<float>({3}, {1, 2, 3});
  auto s = Run1("Mul", {&a, &b});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("[2]"));
  EXPECT_THAT(s.status().message(), HasSubstr("[3]"));

  Tensor i = Tensor::FromVector<int32_t>({2}, {1, 2});
  auto d = Run1("Add", {&a, &i});
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("i32"));
}

TEST(ElementwiseBinary, PowWithMixedDtypesKeepsBaseDtype) {
  Tensor fb = Tensor::FromVector<float>({3}, {1, 2, 3});
  Tensor ie = Tensor::FromVector<int64_t>({3}, {4, 5, 6});
  auto y = Run1("Pow", {&fb, &ie});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kF32);
  EXPECT_THAT(ToDoubles(*y), ElementsAre(1, 32, 729));

  Tensor ib = Tensor::FromVector<int32_t>({3}, {2, 3, 2});
  Tensor fe = Tensor::FromVector<float>({3}, {0.5f, 2.0f, -1.0f});
  auto z = Run1("Pow", {&ib, &fe});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->dtype(), DataType::kI32);
  EXPECT_THAT(ToDoubles(*z), ElementsAre(1, 9, 0));  // 1.414 and 0.5 truncate

  Tensor big = Tensor::FromVector<int64_t>({2}, {3, 2});
  Tensor e = Tensor::FromVector<int64_t>({2}, {39, -1});
  auto w = Run1("Pow", {&big, &e});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->data_as<int64_t>()[0], 4052555153018976267LL);  // 3^39, exact
  EXPECT_EQ(w->data_as<int64_t>()[1], 0);
}

TEST(ElementwiseBinary, ModFollowsDivisorOrDividendSign) {
  Tensor a = Tensor::FromVector<int64_t>({6}, {-4, 7, 5, 4, -7, 8});
  Tensor b = Tensor::FromVector<int64_t>({6}, {2, -3, 8, -2, 3, 5});
  auto py = Run1("Mod", {&a, &b});
  ir::AttributeMap fmod;
  fmod.Set("fmod", MakeIntAttr(1));
  auto c = Run1("Mod", {&a, &b}, fmod);
  ASSERT_TRUE(py.ok() && c.ok());
  EXPECT_THAT(ToDoubles(*py), ElementsAre(0, -2, 5, 0, 2, 3));
  EXPECT_THAT(ToDoubles(*c), ElementsAre(0, 1, 5, 0, -1, 3));
}

TEST(ElementwiseBinary, BitShiftAndPRelu) {
  Tensor v = Tensor::FromVector<uint8_t>({3}, {16, 4, 1});
  Tensor s = Tensor::FromVector<uint8_t>({3}, {1, 2, 8});
  ir::AttributeMap right;
  right.Set("direction", MakeStringAttr("RIGHT"));
  ir::AttributeMap left;
  left.Set("direction", MakeStringAttr("LEFT"));
  auto r = Run1("BitShift", {&v, &s}, right);
  auto l = Run1("BitShift", {&v, &s}, left);
  ASSERT_TRUE(r.ok() && l.ok());
  EXPECT_THAT(ToDoubles(*r), ElementsAre(8, 1, 0));
  EXPECT_THAT(ToDoubles(*l), ElementsAre(32, 16, 0));

  Tensor x = Tensor::FromVector<float>({2, 2}, {-2, 3, -4, 5});
  Tensor slope = Tensor::FromVector<float>({2}, {0.5f, 0.25f});
  auto p = Run1("PRelu", {&x, &slope});
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(ToDoubles(*p), ElementsAre(-1, 3, -2, 5));
}

TEST(ElementwiseLogic, ComparisonsBroadcastToBool) {
  Tensor a = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::FromVector<float>({1}, {2});
  auto eq = Run1("Equal", {&a, &b});
  auto gt = Run1("Greater", {&a, &b});
  auto lt = Run1("Less", {&a, &b});
  auto ge = Run1("GreaterOrEqual", {&a, &b});
  ASSERT_TRUE(eq.ok() && gt.ok() && lt.ok() && ge.ok());
  EXPECT_EQ(eq->dtype(), DataType::kBool);
  EXPECT_THAT(ToDoubles(*eq), ElementsAre(0, 1, 0, 0));
  EXPECT_THAT(ToDoubles(*gt), ElementsAre(0, 0, 1, 1));
  EXPECT_THAT(ToDoubles(*lt), ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(ToDoubles(*ge), ElementsAre(0, 1, 1, 1));

  Tensor x = Tensor::FromVector<bool>({4}, {false, false, true, true});
  Tensor y = Tensor::FromVector<bool>({4}, {false, true, false, true});
  auto band = Run1("And", {&x, &y});
  auto bor = Run1("Or", {&x, &y});
  auto bxor = Run1("Xor", {&x, &y});
  ASSERT_TRUE(band.ok() && bor.ok() && bxor.ok());
  EXPECT_THAT(ToDoubles(*band), ElementsAre(0, 0, 0, 1));
  EXPECT_THAT(ToDoubles(*bor), ElementsAre(0, 1, 1, 1));
  EXPECT_THAT(ToDoubles(*bxor), ElementsAre(0, 1, 1, 0));
}

TEST(ElementwiseLogic, WhereBroadcastsAllThree) {
  Tensor cond = Tensor::FromVector<bool>({2, 1}, {true, false});
  Tensor x = Tensor::FromVector<int64_t>({2}, {1, 2});
  Tensor y = Tensor::FromVector<int64_t>({}, {-7});
  auto z = Run1("Where", {&cond, &x, &y});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->shape(), Shape({2, 2}));
  EXPECT_THAT(ToDoubles(*z), ElementsAre(1, 2, -7, -7));
}

TEST(ElementwiseVariadic, MaxMinSumMeanBroadcastAllInputs) {
  Tensor a = Tensor::FromVector<float>({3}, {1, 5, 3});
  Tensor b = Tensor::FromVector<float>({1}, {2});
  Tensor c = Tensor::FromVector<float>({2, 1}, {0, 4});
  auto max = Run1("Max", {&a, &b, &c});
  auto min = Run1("Min", {&a, &b, &c});
  auto sum = Run1("Sum", {&a, &b, &c});
  auto mean = Run1("Mean", {&a, &b});
  ASSERT_TRUE(max.ok() && min.ok() && sum.ok() && mean.ok());
  EXPECT_EQ(max->shape(), Shape({2, 3}));
  EXPECT_THAT(ToDoubles(*max), ElementsAre(2, 5, 3, 4, 5, 4));
  EXPECT_THAT(ToDoubles(*min), ElementsAre(0, 0, 0, 1, 2, 2));
  EXPECT_THAT(ToDoubles(*sum), ElementsAre(3, 7, 5, 7, 11, 9));
  EXPECT_THAT(ToDoubles(*mean), ElementsAre(1.5, 3.5, 2.5));

  auto one = Run1("Sum", {&a});
  ASSERT_TRUE(one.ok());
  EXPECT_THAT(ToDoubles(*one), ElementsAre(1, 5, 3));
}

TEST(ElementwiseVariadic, MaxPropagatesNaNAndSupportsIntegers) {
  Tensor a = Tensor::FromVector<float>({2}, {float(kNaN), 1});
  Tensor b = Tensor::FromVector<float>({2}, {1, float(kNaN)});
  auto max = Run1("Max", {&a, &b});
  ASSERT_TRUE(max.ok());
  EXPECT_TRUE(std::isnan(max->data_as<float>()[0]));
  EXPECT_TRUE(std::isnan(max->data_as<float>()[1]));

  Tensor i = Tensor::FromVector<int16_t>({2}, {-3, 9});
  Tensor j = Tensor::FromVector<int16_t>({2}, {4, -1});
  auto imin = Run1("Min", {&i, &j});
  ASSERT_TRUE(imin.ok());
  EXPECT_EQ(imin->dtype(), DataType::kI16);
  EXPECT_THAT(ToDoubles(*imin), ElementsAre(-3, -1));
}

}  // namespace
}  // namespace refit::reference
