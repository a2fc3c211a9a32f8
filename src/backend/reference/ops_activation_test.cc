// Activation kernels against hand-computed values.
#include <cmath>
#include <cstdint>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/reference/elementwise_test_util.h"

namespace refit::reference {
namespace {

using ew_test::MakeFloatAttr;
using ew_test::Run1;
using ew_test::ToDoubles;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Activation, ReluOnFloatsAndIntegers) {
  Tensor f = Tensor::FromVector<float>({3}, {-1.5f, 0.0f, 2.5f});
  Tensor i = Tensor::FromVector<int32_t>({3}, {-7, 0, 7});
  auto yf = Run1("Relu", {&f});
  auto yi = Run1("Relu", {&i});
  ASSERT_TRUE(yf.ok() && yi.ok());
  EXPECT_THAT(ToDoubles(*yf), ElementsAre(0, 0, 2.5));
  EXPECT_EQ(yi->dtype(), DataType::kI32);
  EXPECT_THAT(ToDoubles(*yi), ElementsAre(0, 0, 7));
}

TEST(Activation, LeakyReluEluSeluUseAttributesAndDefaults) {
  Tensor x = Tensor::FromVector<double>({2}, {-1.0, 2.0});
  ir::AttributeMap alpha;
  alpha.Set("alpha", MakeFloatAttr(0.25f));
  auto leaky = Run1("LeakyRelu", {&x}, alpha);
  auto leaky_default = Run1("LeakyRelu", {&x});
  auto elu = Run1("Elu", {&x});
  auto selu = Run1("Selu", {&x});
  ASSERT_TRUE(leaky.ok() && leaky_default.ok() && elu.ok() && selu.ok());
  EXPECT_THAT(ToDoubles(*leaky), ElementsAre(-0.25, 2.0));
  EXPECT_THAT(ToDoubles(*leaky_default), ElementsAre(DoubleNear(-0.01, 1e-9), 2.0));
  EXPECT_THAT(ToDoubles(*elu), ElementsAre(DoubleNear(std::exp(-1.0) - 1.0, 1e-12), 2.0));
  // gamma * alpha * (e^-1 - 1) and gamma * 2 with the spec's defaults.
  EXPECT_THAT(ToDoubles(*selu),
              ElementsAre(DoubleNear(-1.1113307378, 1e-6), DoubleNear(2.1014020443, 1e-6)));
}

TEST(Activation, HardSigmoidHardSwishSoftplus) {
  Tensor x = Tensor::FromVector<float>({4}, {-4.0f, 0.0f, 1.0f, 4.0f});
  auto hsig = Run1("HardSigmoid", {&x});
  auto hswish = Run1("HardSwish", {&x});
  ASSERT_TRUE(hsig.ok() && hswish.ok());
  EXPECT_THAT(ToDoubles(*hsig), ElementsAre(0.0, 0.5, DoubleNear(0.7, 1e-6), 1.0));
  EXPECT_THAT(ToDoubles(*hswish), ElementsAre(0.0, 0.0, DoubleNear(2.0 / 3.0, 1e-6), 4.0));

  Tensor s = Tensor::FromVector<float>({3}, {0.0f, 100.0f, -20.0f});
  auto sp = Run1("Softplus", {&s});
  ASSERT_TRUE(sp.ok());
  EXPECT_NEAR(sp->data_as<float>()[0], std::log(2.0), 1e-6);
  EXPECT_EQ(sp->data_as<float>()[1], 100.0f);  // no overflow to inf
  EXPECT_NEAR(sp->data_as<float>()[2], 2.0611536e-9, 1e-15);
}

TEST(Activation, CeluSoftsignThresholdedRelu) {
  Tensor x = Tensor::FromVector<float>({2}, {-2.0f, 3.0f});
  ir::AttributeMap alpha;
  alpha.Set("alpha", MakeFloatAttr(2.0f));
  auto celu = Run1("Celu", {&x}, alpha);
  auto softsign = Run1("Softsign", {&x});
  auto thr = Run1("ThresholdedRelu", {&x}, alpha);
  ASSERT_TRUE(celu.ok() && softsign.ok() && thr.ok());
  EXPECT_THAT(ToDoubles(*celu), ElementsAre(DoubleNear(2.0 * (std::exp(-1.0) - 1), 1e-6), 3.0));
  EXPECT_THAT(ToDoubles(*softsign), ElementsAre(DoubleNear(-2.0 / 3, 1e-7), 0.75));
  EXPECT_THAT(ToDoubles(*thr), ElementsAre(0.0, 3.0));
}

TEST(Activation, ClipBoundsFromInputsSinceOpset11) {
  Tensor x = Tensor::FromVector<float>({4}, {-2.0f, 0.0f, 5.0f, NAN});
  Tensor lo = Tensor::FromVector<float>({}, {-1.0f});
  Tensor hi = Tensor::FromVector<float>({}, {1.0f});
  auto both = Run1("Clip", {&x, &lo, &hi}, {}, 13);
  auto max_only = Run1("Clip", {&x, nullptr, &hi}, {}, 13);
  auto none = Run1("Clip", {&x}, {}, 13);
  auto inverted = Run1("Clip", {&x, &hi, &lo}, {}, 13);  // min > max: everything becomes max
  ASSERT_TRUE(both.ok() && max_only.ok() && none.ok() && inverted.ok());
  EXPECT_THAT(ToDoubles(*both), ElementsAre(-1, 0, 1, ::testing::IsNan()));
  EXPECT_THAT(ToDoubles(*max_only), ElementsAre(-2, 0, 1, ::testing::IsNan()));
  EXPECT_THAT(ToDoubles(*none), ElementsAre(-2, 0, 5, ::testing::IsNan()));
  EXPECT_THAT(ToDoubles(*inverted), ElementsAre(-1, -1, -1, ::testing::IsNan()));
}

TEST(Activation, ClipIntegersAndAttributeForm) {
  Tensor x = Tensor::FromVector<int8_t>({3}, {-100, 3, 100});
  Tensor lo = Tensor::FromVector<int8_t>({}, {0});
  auto y = Run1("Clip", {&x, &lo}, {}, 13);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kI8);
  EXPECT_THAT(ToDoubles(*y), ElementsAre(0, 3, 100));

  Tensor f = Tensor::FromVector<float>({3}, {-3.0f, 0.5f, 3.0f});
  ir::AttributeMap attrs;
  attrs.Set("min", MakeFloatAttr(-1.0f));
  attrs.Set("max", MakeFloatAttr(2.0f));
  auto z = Run1("Clip", {&f}, attrs, 6);
  ASSERT_TRUE(z.ok());
  EXPECT_THAT(ToDoubles(*z), ElementsAre(-1, 0.5, 2));

  Tensor wrong = Tensor::FromVector<int32_t>({}, {0});
  auto bad = Run1("Clip", {&x, &wrong}, {}, 13);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("i32"));
}

}  // namespace
}  // namespace refit::reference
