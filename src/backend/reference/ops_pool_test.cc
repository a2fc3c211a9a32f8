#include <gtest/gtest.h>

#include "backend/reference/conv_test_util.h"

namespace refit::reference {
namespace {

using namespace conv_testing;

Tensor Iota(Shape shape) {
  Tensor t = Tensor::Create(DataType::kF32, std::move(shape)).value();
  for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<float>()[i] = float(i);
  return t;
}

TEST(MaxPool, ValuesAndRowMajorIndices) {
  // Two planes of 0..15 (second plane 16..31): 2x2 windows, stride 2.
  Attrs a = {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}};
  auto r = RunOp("MaxPool", {Iota({1, 2, 4, 4})}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[0], Shape({1, 2, 2, 2}), {5, 7, 13, 15, 21, 23, 29, 31});
  ASSERT_EQ((*r)[1].dtype(), DataType::kI64);
  ExpectNear((*r)[1], Shape({1, 2, 2, 2}), {5, 7, 13, 15, 21, 23, 29, 31});
}

TEST(MaxPool, ColumnMajorIndicesWithStorageOrder1) {
  // Element (h, w) of a 4x4 plane is h + 4 * w in column-major order, plus 16 per plane.
  Attrs a = {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"storage_order", Int(1)}};
  auto r = RunOp("MaxPool", {Iota({2, 1, 4, 4})}, a, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear((*r)[1], Shape({2, 1, 2, 2}), {5, 13, 7, 15, 21, 29, 23, 31});
}

TEST(MaxPool, DilationsPadsAndSameModes) {
  Tensor x = F32({1, 1, 5}, {1, 5, 2, 4, 3});
  // Dilation 2: windows {0,2}, {1,3}, {2,4}.
  ExpectNear(Run1("MaxPool", {x.Clone()}, {{"kernel_shape", Ints({2})}, {"dilations", Ints({2})}}),
             Shape({1, 1, 3}), {2, 5, 3});
  // Padding never wins a max, even against negative values.
  Tensor neg = F32({1, 1, 3}, {-3, -1, -2});
  ExpectNear(
      Run1("MaxPool", {std::move(neg)}, {{"kernel_shape", Ints({2})}, {"pads", Ints({1, 1})}}),
      Shape({1, 1, 4}), {-3, -1, -1, -2});
  Tensor four = F32({1, 1, 4}, {1, 2, 3, 4});
  ExpectNear(Run1("MaxPool", {four.Clone()},
                  {{"kernel_shape", Ints({2})}, {"auto_pad", Str("SAME_UPPER")}}),
             Shape({1, 1, 4}), {2, 3, 4, 4});
  ExpectNear(Run1("MaxPool", {four.Clone()},
                  {{"kernel_shape", Ints({2})}, {"auto_pad", Str("SAME_LOWER")}}),
             Shape({1, 1, 4}), {1, 2, 3, 4});
}

TEST(MaxPool, CeilModeDropsWindowsStartingInThePadding) {
  // in 5, k 2, s 2, pads 1: floor gives 3 windows; ceil would give 4 but the 4th starts at
  // padded index 6 = in + pad_begin, entirely in the end padding, so it is dropped.
  Tensor x = F32({1, 1, 5}, {1, 2, 3, 4, 5});
  Attrs a = {{"kernel_shape", Ints({2})},
             {"strides", Ints({2})},
             {"pads", Ints({1, 1})},
             {"ceil_mode", Int(1)}};
  ExpectNear(Run1("MaxPool", {x.Clone()}, a), Shape({1, 1, 3}), {1, 3, 5});
  // in 4, k 3, s 2 (no pads): ceil adds a partial window over elements 2..3.
  a = {{"kernel_shape", Ints({3})}, {"strides", Ints({2})}, {"ceil_mode", Int(1)}};
  ExpectNear(Run1("MaxPool", {F32({1, 1, 4}, {4, 1, 2, 3})}, a), Shape({1, 1, 2}), {4, 3});
}

TEST(MaxPool, IntegerAndHalfInputs) {
  Tensor u8 = Tensor::FromVector<uint8_t>({1, 1, 4}, {10, 250, 3, 7});
  Tensor y = Run1("MaxPool", {std::move(u8)}, {{"kernel_shape", Ints({2})}});
  ASSERT_EQ(y.dtype(), DataType::kU8);
  ExpectNear(y, Shape({1, 1, 3}), {250, 250, 7});
  Tensor h = Tensor::FromVector<Half>({1, 1, 3}, {Half(0.5f), Half(-2.0f), Half(1.5f)});
  ExpectNear(Run1("MaxPool", {std::move(h)}, {{"kernel_shape", Ints({2})}}), Shape({1, 1, 2}),
             {0.5, 1.5});
}

TEST(AveragePool, CountIncludePad) {
  // 2x2 input [[1,2],[3,4]], 2x2 windows, pads 1 on every side: a 3x3 output.
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Attrs a = {{"kernel_shape", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}};
  ExpectNear(Run1("AveragePool", {x.Clone()}, a), Shape({1, 1, 3, 3}),
             {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
  a["count_include_pad"] = Int(1);
  ExpectNear(Run1("AveragePool", {x.Clone()}, a), Shape({1, 1, 3, 3}),
             {0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1});
}

TEST(AveragePool, CeilModePartialWindowDividesByElementsInside) {
  // 4x4 of 0..15, 3x3 windows, stride 2, ceil: the right/bottom windows hold 2 of 3 rows/cols.
  Attrs a = {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}};
  const double tl = (0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10) / 9.0;
  const double tr = (2 + 3 + 6 + 7 + 10 + 11) / 6.0;
  const double bl = (8 + 9 + 10 + 12 + 13 + 14) / 6.0;
  const double br = (10 + 11 + 14 + 15) / 4.0;
  ExpectNear(Run1("AveragePool", {Iota({1, 1, 4, 4})}, a), Shape({1, 1, 2, 2}), {tl, tr, bl, br});
}

TEST(AveragePool, SameModesAnd3D) {
  Tensor four = F32({1, 1, 4}, {1, 2, 3, 4});
  ExpectNear(Run1("AveragePool", {four.Clone()},
                  {{"kernel_shape", Ints({2})}, {"auto_pad", Str("SAME_UPPER")}}),
             Shape({1, 1, 4}), {1.5, 2.5, 3.5, 4});
  ExpectNear(Run1("AveragePool", {four.Clone()},
                  {{"kernel_shape", Ints({2})}, {"auto_pad", Str("SAME_LOWER")}}),
             Shape({1, 1, 4}), {1, 1.5, 2.5, 3.5});
  // A 2x2x2 cube averaged whole.
  ExpectNear(Run1("AveragePool", {Iota({1, 1, 2, 2, 2})}, {{"kernel_shape", Ints({2, 2, 2})}}),
             Shape({1, 1, 1, 1, 1}), {3.5});
}

TEST(AveragePool, ThreadedMatchesSingleThreadedAndHalfRounds) {
  Tensor x = Random({2, 3, 9, 9}, 5);
  Attrs a = {
      {"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}};
  Tensor one = Run1("AveragePool", {x.Clone()}, a, 1);
  Tensor two = Run1("AveragePool", {x.Clone()}, a, 2);
  ExpectNear(two, one.shape(), AsDoubles(one), 0, 0);
  Tensor h = Tensor::FromVector<Half>({1, 1, 2}, {Half(1.0f), Half(2.0f)});
  Tensor hy = Run1("AveragePool", {std::move(h)}, {{"kernel_shape", Ints({2})}});
  ASSERT_EQ(hy.dtype(), DataType::kF16);
  ExpectNear(hy, Shape({1, 1, 1}), {1.5});
}

TEST(GlobalPool, AverageAndMaxPerPlane) {
  Tensor x = F32({1, 2, 2, 2}, {1, 2, 3, 4, -5, -6, -7, -8});
  ExpectNear(Run1("GlobalAveragePool", {x.Clone()}), Shape({1, 2, 1, 1}), {2.5, -6.5});
  ExpectNear(Run1("GlobalMaxPool", {x.Clone()}), Shape({1, 2, 1, 1}), {4, -5});
  ExpectNear(Run1("GlobalAveragePool", {Iota({1, 1, 3})}), Shape({1, 1, 1}), {1});
}

TEST(Pool, RejectsBadAttributes) {
  EXPECT_FALSE(RunOp("MaxPool", {Iota({1, 1, 4, 4})}, {{"kernel_shape", Ints({2})}}).ok());
  EXPECT_FALSE(RunOp("AveragePool", {Iota({1, 1, 4, 4})},
                     {{"kernel_shape", Ints({2, 2})}, {"auto_pad", Str("SAME")}})
                   .ok());
  EXPECT_FALSE(RunOp("MaxPool", {Iota({1, 1, 4, 4})},
                     {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({0, 1})}})
                   .ok());
}

}  // namespace
}  // namespace refit::reference
