// Status, Shape, Tensor and the 16-bit float conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "refit/float16.h"
#include "refit/shape.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit {
namespace {

// binary16 decoded from its definition, independently of Half::ToFloat.
double DecodeHalf(uint16_t bits) {
  const int sign = bits >> 15, exp = (bits >> 10) & 0x1f, mant = bits & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(double(mant), -24);
  } else if (exp == 31) {
    v = mant == 0 ? std::numeric_limits<double>::infinity()
                  : std::numeric_limits<double>::quiet_NaN();
  } else {
    v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
  }
  return sign ? -v : v;
}

TEST(HalfTest, AllBitPatternsRoundTripThroughFloat) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t bits = uint16_t(b);
    const float f = Half::ToFloat(bits);
    const double want = DecodeHalf(bits);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      const uint16_t back = Half::FromFloat(f);
      ASSERT_EQ(back & 0x7c00, 0x7c00) << std::hex << b;  // still NaN ...
      ASSERT_NE(back & 0x03ff, 0) << std::hex << b;
      ASSERT_EQ(back & 0x8000, bits & 0x8000) << std::hex << b;  // ... with its sign
      continue;
    }
    ASSERT_EQ(double(f), want) << std::hex << b;
    ASSERT_EQ(std::signbit(f), (bits & 0x8000) != 0) << std::hex << b;
    ASSERT_EQ(Half::FromFloat(f), bits) << std::hex << b;
  }
}

TEST(HalfTest, RoundsToNearestEvenAtEveryMidpoint) {
  // Between consecutive positive halves k and k+1 the midpoint is exact in float; it must go to
  // the even one, and the floats just either side of it to the nearer one.
  for (uint16_t k = 0; k < 0x7c00; ++k) {
    const float lo = Half::ToFloat(k);
    const float hi = k == 0x7bff ? 65536.0f : Half::ToFloat(uint16_t(k + 1));
    const float mid = float((double(lo) + double(hi)) / 2);
    ASSERT_EQ(double(mid), (double(lo) + double(hi)) / 2);
    const uint16_t even = (k & 1) ? uint16_t(k + 1) : k;
    ASSERT_EQ(Half::FromFloat(mid), even) << std::hex << k;
    ASSERT_EQ(Half::FromFloat(std::nextafter(mid, 0.0f)), k) << std::hex << k;
    ASSERT_EQ(Half::FromFloat(std::nextafter(mid, 1e30f)), uint16_t(k + 1)) << std::hex << k;
    ASSERT_EQ(Half::FromFloat(-mid), even | 0x8000) << std::hex << k;
  }
}

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half(0.1f).bits, 0x2e66);
  EXPECT_EQ(Half(65504.0f).bits, 0x7bff);
  EXPECT_EQ(Half(65519.0f).bits, 0x7bff);
  EXPECT_EQ(Half(65520.0f).bits, 0x7c00);  // the tie rounds up to 2^16, which overflows
  EXPECT_EQ(Half(1e10f).bits, 0x7c00);
  EXPECT_EQ(Half(-std::numeric_limits<float>::infinity()).bits, 0xfc00);
  EXPECT_EQ(Half(0x1p-24f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(Half(0x1p-25f).bits, 0x0000);  // tie between 0 and it: even
  EXPECT_EQ(Half(0x1.8p-24f).bits, 0x0002);
  EXPECT_EQ(Half(0x1p-14f).bits, 0x0400);  // smallest normal
  EXPECT_EQ(Half(1e-10f).bits, 0x0000);
  EXPECT_EQ(Half(-0.0f).bits, 0x8000);
  EXPECT_TRUE(std::isnan(float(Half(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(float(Half::FromBits(0x3555)), 0.333251953125f);
}

TEST(BFloat16Test, RoundingAndRoundTrip) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16(1.0f + 0x1p-8f).bits, 0x3f80);  // tie, even stays
  EXPECT_EQ(BFloat16(1.0f + 0x3p-8f).bits, 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(BFloat16(1.0f + 0x1p-8f + 0x1p-20f).bits, 0x3f81);
  EXPECT_EQ(BFloat16(-3.0f).bits, 0xc040);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::max()).bits, 0x7f80);  // rounds to infinity
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
  const BFloat16 nan(BitsFloat(0x7f800001u));  // a NaN whose payload would truncate to infinity
  EXPECT_TRUE(std::isnan(float(nan)));
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = float(BFloat16::FromBits(uint16_t(b)));
    ASSERT_EQ(FloatBits(f), b << 16);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(float(BFloat16(f))));
    } else {
      ASSERT_EQ(BFloat16(f).bits, b);
    }
  }
}

TEST(StatusTest, CodesMessagesAndContext) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = NotFound("tensor 'w'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: tensor 'w'");
  EXPECT_EQ(s.WithContext("model.st").message(), "model.st: tensor 'w'");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
  EXPECT_EQ(Status(StatusCode::kOk, "ignored").message(), "");
}

StatusOr<int> Half2(int x) {
  if (x % 2) return InvalidArgument("odd " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  REFIT_ASSIGN_OR_RETURN(int h, Half2(x));
  REFIT_ASSIGN_OR_RETURN(int q, Half2(h));
  return q;
}

TEST(StatusTest, StatusOrAndMacros) {
  EXPECT_EQ(*Quarter(12), 3);
  StatusOr<int> bad = Quarter(6);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "odd 3");
  auto check = [](int x) -> Status {
    REFIT_RETURN_IF_ERROR(Half2(x).status());
    return Internal("reached");
  };
  EXPECT_EQ(check(1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(check(2).code(), StatusCode::kInternal);
}

TEST(ShapeTest, BroadcastShapes) {
  EXPECT_EQ(*BroadcastShapes({2, 1, 3}, {4, 1}), Shape({2, 4, 3}));
  EXPECT_EQ(*BroadcastShapes({}, {3}), Shape({3}));
  EXPECT_EQ(*BroadcastShapes({}, {}), Shape({}));
  EXPECT_EQ(*BroadcastShapes({0, 1}, {1, 5}), Shape({0, 5}));
  EXPECT_EQ(*BroadcastShapes({1}, {0}), Shape({0}));
  StatusOr<Shape> bad = BroadcastShapes({2, 3}, {4, 3});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("[2,3]"), std::string::npos);
  EXPECT_NE(bad.status().message().find("[4,3]"), std::string::npos);
}

TEST(ShapeTest, CheckedNumElements) {
  EXPECT_EQ(*CheckedNumElements({}), 1);
  EXPECT_EQ(*CheckedNumElements({2, 3, 4}), 24);
  EXPECT_EQ(*CheckedNumElements({0, INT64_MAX, INT64_MAX}), 0);
  EXPECT_EQ(*CheckedNumElements({1 << 24, 1 << 24}), int64_t{1} << 48);  // exactly the limit
  EXPECT_EQ(CheckedNumElements({1 << 24, 1 << 24, 2}).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(CheckedNumElements({INT64_MAX, INT64_MAX}).status().code(), StatusCode::kOutOfRange);
  // 2^32 * 2^32 wraps to 0 in int64 arithmetic; it must be caught, not wrapped.
  EXPECT_FALSE(CheckedNumElements({int64_t{1} << 32, int64_t{1} << 32}).ok());
  EXPECT_EQ(CheckedNumElements({3, -1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*CheckedNumElements({10, 10}, 100), 100);
  EXPECT_FALSE(CheckedNumElements({10, 11}, 100).ok());
  EXPECT_EQ(Shape({2, 3, 4}).Strides(), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(Shape({2, 3}).ToString(), "[2,3]");
}

TEST(TensorTest, CreateFromVectorReshapeAndCopy) {
  StatusOr<Tensor> zeros = Tensor::Create(DataType::kF32, {2, 3});
  ASSERT_TRUE(zeros.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(zeros->data()) % kTensorAlignment, 0u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(zeros->data_as<float>()[i], 0.0f);
  EXPECT_EQ(zeros->nbytes(), 24u);

  Tensor t = Tensor::FromVector<int32_t>({2, 2}, {1, 2, 3, 4});
  StatusOr<Tensor> r = t.Reshaped({4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data(), t.data());  // shares the buffer
  EXPECT_FALSE(t.Reshaped({3}).ok());
  Tensor c = t.Clone();
  EXPECT_NE(c.data(), t.data());
  t.mutable_data_as<int32_t>()[0] = 9;
  EXPECT_EQ(c.data_as<int32_t>()[0], 1);
  EXPECT_EQ(r->data_as<int32_t>()[0], 9);

  EXPECT_EQ(Tensor::Create(DataType::kF32, {2, -1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Tensor::Create(DataType::kF32, {int64_t{1} << 40, int64_t{1} << 20}).ok());
  EXPECT_FALSE(Tensor::Create(DataType::kUndefined, {1}).ok());
  StatusOr<Tensor> scalar = Tensor::Create(DataType::kF64, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->NumElements(), 1);
  StatusOr<Tensor> empty = Tensor::Create(DataType::kI64, {0, 7});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->nbytes(), 0u);
  EXPECT_NE(empty->data(), nullptr);
}

}  // namespace
}  // namespace refit
