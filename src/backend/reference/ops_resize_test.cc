#include <gtest/gtest.h>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::FloatAttr;
using testing::I64s;
using testing::Ins;
using testing::IntAttr;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::StringAttr;
using testing::Values;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  testing::ExpectNear(got, want, tol);
}

Tensor Scales(const std::vector<float>& v) { return F32({int64_t(v.size())}, v); }

TEST(ResizeTest, NearestUpsampleWithScales) {
  Tensor y = Run1({"Resize", 13, {{"mode", StringAttr("nearest")}}},
                  Ins(F32({1, 1, 2, 2}, {1, 2, 3, 4}), Tensor(), Scales({1, 1, 2, 3})));
  EXPECT_EQ(y.shape(), Shape({1, 1, 4, 6}));
  EXPECT_EQ(Values<float>(y), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                  3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
}

TEST(ResizeTest, LinearHalfPixelUpsample) {
  Tensor y = Run1({"Resize", 13, {{"mode", StringAttr("linear")}}},
                  Ins(F32({1, 1, 2, 2}, {1, 2, 3, 4}), Tensor(), Scales({1, 1, 2, 2})));
  ExpectNear(Values<float>(y), {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f,
                                3.5f, 3, 3.25f, 3.75f, 4});
}

TEST(ResizeTest, AlignCornersUsesUnroundedResizedLength) {
  // scale 0.6 on width 4: the output has 2 columns, but the formula divides by 4 * 0.6 - 1 = 1.4.
  Tensor y =
      Run1({"Resize",
            13,
            {{"mode", StringAttr("linear")},
             {"coordinate_transformation_mode", StringAttr("align_corners")}}},
           Ins(F32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), Tensor(), Scales({1, 1, 0.6f, 0.6f})));
  EXPECT_EQ(y.shape(), Shape({1, 1, 1, 2}));
  ExpectNear(Values<float>(y), {1, 1 + 3 / 1.4f});
}

TEST(ResizeTest, CubicMatchesReferenceFormula) {
  // Expected values from ONNX's interpolate_nd with cubic_coeffs (A = -0.75, half_pixel).
  Tensor y =
      Run1({"Resize", 13, {{"mode", StringAttr("cubic")}}},
           Ins(F32({1, 1, 2, 4}, {1, 2, 4, 8, 3, 5, 7, 9}), Tensor(), Scales({1, 1, 1, 1.5f})));
  ExpectNear(Values<float>(y), {0.9131944f, 1.3125f, 2.3043981f, 3.3831018f, 6.1875f, 8.3472222f,
                                2.8263889f, 3.8125f, 5.4259259f, 6.5740741f, 8.1875f, 9.1736111f});
  Tensor z =
      Run1({"Resize",
            13,
            {{"mode", StringAttr("cubic")},
             {"cubic_coeff_a", FloatAttr(-0.5f)},
             {"exclude_outside", IntAttr(1)}}},
           Ins(F32({1, 1, 2, 4}, {1, 2, 4, 8, 3, 5, 7, 9}), Tensor(), Scales({1, 1, 1, 1.5f})));
  ExpectNear(Values<float>(z),
             {0.9342105f, 1.3529412f, 2.2523148f, 3.5393519f, 6.2352941f, 8.2631579f, 2.8684211f,
              3.8235294f, 5.3333333f, 6.6666667f, 8.1764706f, 9.1315789f});
}

TEST(ResizeTest, SizesWithPytorchHalfPixel) {
  Tensor y = Run1(
      {"Resize",
       13,
       {{"mode", StringAttr("linear")},
        {"coordinate_transformation_mode", StringAttr("pytorch_half_pixel")}}},
      Ins(F32({1, 1, 2, 4}, {1, 2, 4, 8, 3, 5, 7, 9}), Tensor(), Tensor(), I64s({1, 1, 3, 3})));
  ExpectNear(Values<float>(y),
             {1.1666667f, 3, 7.3333333f, 2.25f, 4.5f, 8, 3.3333333f, 6, 8.6666667f});
}

TEST(ResizeTest, TfCropAndResizeExtrapolates) {
  Tensor x = testing::Iota({1, 1, 4, 4});  // 0..15, i.e. ONNX's example minus one
  Tensor y = Run1({"Resize",
                   13,
                   {{"mode", StringAttr("linear")},
                    {"coordinate_transformation_mode", StringAttr("tf_crop_and_resize")},
                    {"extrapolation_value", FloatAttr(10)}}},
                  Ins(std::move(x), F32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f}), Tensor(),
                      I64s({1, 1, 3, 3})));
  ExpectNear(Values<float>(y), {6.6f, 10, 10, 11.4f, 10, 10, 10, 10, 10});
}

TEST(ResizeTest, NearestModesAndOpset11EmptyInputs) {
  // tf_half_pixel_for_nn with empty roi and scales tensors standing for absent inputs.
  Tensor y =
      Run1({"Resize", 11, {{"coordinate_transformation_mode", StringAttr("tf_half_pixel_for_nn")}}},
           Ins(testing::Iota({1, 1, 4, 4}), F32({0}, {}), F32({0}, {}), I64s({1, 1, 3, 2})));
  EXPECT_EQ(Values<float>(y), (std::vector<float>{5, 7, 9, 11, 13, 15}));
  // 2 -> 8 with asymmetric + round_prefer_ceil: x/4 = 0, .25, .5, .75, 1, ...
  Tensor c = Run1({"Resize",
                   13,
                   {{"coordinate_transformation_mode", StringAttr("asymmetric")},
                    {"nearest_mode", StringAttr("round_prefer_ceil")}}},
                  Ins(F32({2}, {1, 2}), Tensor(), Tensor(), I64s({8})));
  EXPECT_EQ(Values<float>(c), (std::vector<float>{1, 1, 2, 2, 2, 2, 2, 2}));
}

TEST(ResizeTest, UpsampleOpset9FloorsAndKeepsIntegers) {
  Tensor y = Run1({"Upsample", 9}, Ins(Tensor::FromVector<int8_t>({1, 1, 2, 2}, {1, 2, 3, 4}),
                                       Scales({1, 1, 2, 3})));
  EXPECT_EQ(Values<int8_t>(y), (std::vector<int8_t>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                    3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
}

TEST(ResizeTest, LinearOnUint8Rounds) {
  // 1-D half_pixel 2 -> 4 on {0, 255}: 0, 63.75, 191.25, 255 rounded.
  Tensor y = Run1({"Resize", 13, {{"mode", StringAttr("linear")}}},
                  Ins(Tensor::FromVector<uint8_t>({2}, {0, 255}), Tensor(), Scales({2})));
  EXPECT_EQ(Values<uint8_t>(y), (std::vector<uint8_t>{0, 64, 191, 255}));
}

TEST(ResizeTest, RejectsScalesOfWrongLength) {
  auto r = RunNode({"Resize", 13}, Ins(F32({2, 2}, {1, 2, 3, 4}), Tensor(), Scales({2})));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scales"), std::string::npos) << r.status().ToString();
  // An absurd scale is an error, not an attempt to allocate the result.
  auto huge = RunNode({"Resize", 13}, Ins(F32({2}, {1, 2}), Tensor(), Scales({1e30f})));
  EXPECT_FALSE(huge.ok());
  auto big =
      RunNode({"Resize", 13}, Ins(F32({2}, {1, 2}), Tensor(), Tensor(), I64s({int64_t{1} << 50})));
  EXPECT_FALSE(big.ok());
}

}  // namespace
}  // namespace refit::reference
