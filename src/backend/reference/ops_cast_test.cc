// Cast, CastLike, Identity, Dropout and Constant kernels, and a small graph through the executor.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backend/reference/elementwise_test_util.h"
#include "backend/reference/executor.h"

namespace refit::reference {
namespace {

using ew_test::MakeIntAttr;
using ew_test::Run1;
using ew_test::RunOp;
using ew_test::ToDoubles;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ir::AttributeMap CastTo(int onnx_type) {
  ir::AttributeMap a;
  a.Set("to", MakeIntAttr(onnx_type));
  return a;
}

constexpr int kOnnxFloat = 1, kOnnxUint8 = 2, kOnnxInt8 = 3, kOnnxString = 8, kOnnxInt32 = 6,
              kOnnxBool = 9, kOnnxFloat16 = 10, kOnnxBFloat16 = 16;

TEST(Cast, FloatToIntegerTruncatesAndSaturates) {
  Tensor x = Tensor::FromVector<float>({5}, {1.7f, -1.7f, NAN, 3e10f, -3e10f});
  auto y = Run1("Cast", {&x}, CastTo(kOnnxInt32));
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kI32);
  EXPECT_THAT(ToDoubles(*y), ElementsAre(1, -1, 0, 2147483647.0, -2147483648.0));

  Tensor f = Tensor::FromVector<double>({3}, {-1.0, 255.9, 256.0});
  auto u8 = Run1("Cast", {&f}, CastTo(kOnnxUint8));
  ASSERT_TRUE(u8.ok());
  EXPECT_THAT(ToDoubles(*u8), ElementsAre(0, 255, 255));
}

TEST(Cast, BoolConversions) {
  Tensor x = Tensor::FromVector<float>({4}, {0.0f, -0.0f, 0.5f, NAN});
  auto b = Run1("Cast", {&x}, CastTo(kOnnxBool));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dtype(), DataType::kBool);
  EXPECT_THAT(ToDoubles(*b), ElementsAre(0, 0, 1, 1));

  Tensor t = Tensor::FromVector<bool>({2}, {true, false});
  auto h = Run1("Cast", {&t}, CastTo(kOnnxFloat16));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->data_as<Half>()[0].bits, 0x3c00);  // 1.0
  EXPECT_EQ(h->data_as<Half>()[1].bits, 0x0000);
}

TEST(Cast, IntegerNarrowingWraps) {
  Tensor x = Tensor::FromVector<int64_t>({3}, {300, -129, 127});
  auto y = Run1("Cast", {&x}, CastTo(kOnnxInt8));
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(ToDoubles(*y), ElementsAre(44, 127, 127));
}

TEST(Cast, HalfAndBFloat16RoundToNearestEven) {
  // 1 + 2^-11 lies halfway between binary16 1.0 and 1 + 2^-10: ties go to even (1.0).
  Tensor x = Tensor::FromVector<float>({2}, {1.00048828125f, 0.48033667f});
  auto h = Run1("Cast", {&x}, CastTo(kOnnxFloat16));
  auto bf = Run1("Cast", {&x}, CastTo(kOnnxBFloat16));
  ASSERT_TRUE(h.ok() && bf.ok());
  EXPECT_EQ(h->data_as<Half>()[0].bits, 0x3c00);
  // 0.48033667f is 0x3EF5EEB0: the dropped half 0xEEB0 rounds the bfloat16 up to 0x3EF6.
  EXPECT_EQ(bf->data_as<BFloat16>()[1].bits, 0x3ef6);
}

TEST(Cast, DoubleToHalfRoundsOnce) {
  // Just above the tie: the correct binary16 is 1 + 2^-10. Going through float first would land
  // exactly on the tie and round down to 1.0.
  Tensor x = Tensor::FromVector<double>({1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  auto h = Run1("Cast", {&x}, CastTo(kOnnxFloat16));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->data_as<Half>()[0].bits, 0x3c01);
}

TEST(Cast, StringTargetIsUnimplementedAndCastLikeUsesSecondInput) {
  Tensor x = Tensor::FromVector<float>({1}, {2.5f});
  auto s = Run1("Cast", {&x}, CastTo(kOnnxString));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);

  Tensor like = Tensor::FromVector<double>({}, {0.0});
  auto y = Run1("CastLike", {&x, &like});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kF64);
  EXPECT_THAT(ToDoubles(*y), ElementsAre(2.5));
}

TEST(Passthrough, IdentityAndInferenceDropout) {
  Tensor x = Tensor::FromVector<float>({2, 2}, {1, -2, 3, -4});
  auto id = Run1("Identity", {&x});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->shape(), x.shape());
  EXPECT_THAT(ToDoubles(*id), ElementsAre(1, -2, 3, -4));

  Tensor ratio = Tensor::FromVector<float>({}, {0.5f});
  auto d = RunOp("Dropout", {&x, &ratio}, {}, 2, 13);
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(ToDoubles((*d)[0]), ElementsAre(1, -2, 3, -4));
  EXPECT_EQ((*d)[1].dtype(), DataType::kBool);
  EXPECT_THAT(ToDoubles((*d)[1]), ElementsAre(1, 1, 1, 1));
}

TEST(Passthrough, TrainingDropoutScalesKeptElements) {
  Tensor x = Tensor::FromVector<float>({64}, std::vector<float>(64, 3.0f));
  Tensor ratio = Tensor::FromVector<float>({}, {0.75f});
  Tensor zero = Tensor::FromVector<float>({}, {0.0f});
  Tensor train = Tensor::FromVector<bool>({}, {true});
  auto d = RunOp("Dropout", {&x, &ratio, &train}, {}, 2, 13);
  ASSERT_TRUE(d.ok());
  int kept = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const bool keep = (*d)[1].data_as<bool>()[i];
    EXPECT_EQ((*d)[0].data_as<float>()[i], keep ? 12.0f : 0.0f);
    kept += keep;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 64);

  auto z = RunOp("Dropout", {&x, &zero, &train}, {}, 1, 13);  // ratio 0: identity
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)[0].data_as<float>()[5], 3.0f);
}

TEST(Passthrough, ConstantAttributes) {
  ir::AttributeMap floats;
  ir::Attribute fl;
  fl.kind = ir::Attribute::Kind::kFloats;
  fl.floats = {1.5f, -2.0f};
  floats.Set("value_floats", fl);
  auto f = Run1("Constant", {}, floats);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->shape(), Shape({2}));
  EXPECT_THAT(ToDoubles(*f), ElementsAre(1.5, -2.0));

  ir::AttributeMap one_int;
  one_int.Set("value_int", MakeIntAttr(7));
  auto i = Run1("Constant", {}, one_int);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->dtype(), DataType::kI64);
  EXPECT_EQ(i->shape().rank(), 0u);
  EXPECT_THAT(ToDoubles(*i), ElementsAre(7));

  ir::AttributeMap tensor;
  ir::Attribute t;
  t.kind = ir::Attribute::Kind::kTensor;
  t.t = std::make_shared<Tensor>(Tensor::FromVector<int32_t>({2, 1}, {4, 5}));
  tensor.Set("value", t);
  auto v = Run1("Constant", {}, tensor);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->shape(), Shape({2, 1}));
  EXPECT_THAT(ToDoubles(*v), ElementsAre(4, 5));

  ir::AttributeMap sparse;
  sparse.Set("sparse_value", t);
  auto s = Run1("Constant", {}, sparse);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.status().message(), HasSubstr("sparse_value"));

  auto none = Run1("Constant", {}, {});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("value_float"));
}

// Constant -> Add -> Relu through the executor: values flow between kernels by name.
TEST(Passthrough, SmallGraphThroughExecutor) {
  ir::Graph g;
  g.opset = 17;
  g.inputs.push_back({"x", DataType::kF32, {3}, {""}, true});
  ir::Node c;
  c.name = "c";
  c.op_type = "Constant";
  ir::Attribute fl;
  fl.kind = ir::Attribute::Kind::kFloats;
  fl.floats = {1, 2, 3};
  c.attrs.Set("value_floats", fl);
  c.outputs = {"k"};
  ir::Node add{"add", "Add", "", {"x", "k"}, {"s"}, {}};
  ir::Node relu{"relu", "Relu", "", {"s"}, {"y"}, {}};
  g.nodes = {c, add, relu};
  g.outputs.push_back({"y", DataType::kF32, {3}, {""}, true});
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  Tensor x = Tensor::FromVector<float>({3}, {-5, 0, 5});
  auto out = (*ex)->Run({{"x", x.view()}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(ToDoubles(out->at("y")), ElementsAre(0, 2, 8));
}

}  // namespace
}  // namespace refit::reference
