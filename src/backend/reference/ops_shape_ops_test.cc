#include <gtest/gtest.h>

#include "backend/reference/shape_ops_test_util.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::I64;
using testing::I64s;
using testing::IntAttr;
using testing::IntsAttr;
using testing::Iota;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::Values;

TEST(ShapeOpsTest, ReshapeCopiesZeroDimsAndInfersMinusOne) {
  Tensor out = Run1({"Reshape", 14}, [] {
    std::vector<Tensor> in;
    in.push_back(Iota(Shape{2, 3, 4}));
    in.push_back(I64s({0, -1, 2}));
    return in;
  }());
  EXPECT_EQ(out.shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(Values<float>(out)[23], 23.0f);
}

TEST(ShapeOpsTest, ReshapeAllowZeroKeepsZero) {
  std::vector<Tensor> in;
  in.push_back(Tensor::Create(DataType::kF32, Shape{0, 3, 4}).value());
  in.push_back(I64s({3, 4, 0}));
  Tensor out = Run1({"Reshape", 14, {{"allowzero", IntAttr(1)}}}, std::move(in));
  EXPECT_EQ(out.shape(), (Shape{3, 4, 0}));
}

TEST(ShapeOpsTest, ReshapeRejectsWrongCount) {
  std::vector<Tensor> in;
  in.push_back(Iota(Shape{2, 3}));
  in.push_back(I64s({4, 2}));
  auto r = RunNode({"Reshape", 14}, std::move(in));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Reshape"), std::string::npos);
}

TEST(ShapeOpsTest, ShapeHonoursStartAndEnd) {
  std::vector<Tensor> in;
  in.push_back(Iota(Shape{3, 4, 5}));
  Tensor out = Run1({"Shape", 15, {{"start", IntAttr(1)}, {"end", IntAttr(-1)}}}, std::move(in));
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{4}));
  std::vector<Tensor> in2;
  in2.push_back(Iota(Shape{3, 4, 5}));
  Tensor clipped =
      Run1({"Shape", 15, {{"start", IntAttr(-10)}, {"end", IntAttr(10)}}}, std::move(in2));
  EXPECT_EQ(Values<int64_t>(clipped), (std::vector<int64_t>{3, 4, 5}));
}

TEST(ShapeOpsTest, FlattenAxes) {
  for (auto [axis, want] : std::vector<std::pair<int64_t, Shape>>{
           {0, Shape{1, 120}}, {2, Shape{6, 20}}, {4, Shape{120, 1}}, {-1, Shape{24, 5}}}) {
    std::vector<Tensor> in;
    in.push_back(Iota(Shape{2, 3, 4, 5}));
    Tensor out = Run1({"Flatten", 13, {{"axis", IntAttr(axis)}}}, std::move(in));
    EXPECT_EQ(out.shape(), want) << "axis " << axis;
  }
}

TEST(ShapeOpsTest, SqueezeWithInputAttributeAndDefault) {
  std::vector<Tensor> a;
  a.push_back(Iota(Shape{1, 3, 1, 5}));
  a.push_back(I64s({-2}));
  EXPECT_EQ(Run1({"Squeeze", 13}, std::move(a)).shape(), (Shape{1, 3, 5}));
  std::vector<Tensor> b;
  b.push_back(Iota(Shape{1, 3, 1, 5}));
  EXPECT_EQ(Run1({"Squeeze", 11, {{"axes", IntsAttr({0})}}}, std::move(b)).shape(),
            (Shape{3, 1, 5}));
  std::vector<Tensor> c;
  c.push_back(Iota(Shape{1, 3, 1, 5}));
  EXPECT_EQ(Run1({"Squeeze", 13}, std::move(c)).shape(), (Shape{3, 5}));
  std::vector<Tensor> d;
  d.push_back(Iota(Shape{1, 3}));
  d.push_back(I64s({1}));
  EXPECT_FALSE(RunNode({"Squeeze", 13}, std::move(d)).ok());
}

TEST(ShapeOpsTest, UnsqueezeUnsortedAndNegativeAxes) {
  std::vector<Tensor> a;
  a.push_back(Iota(Shape{3, 4, 5}));
  a.push_back(I64s({5, 4, 2}));
  EXPECT_EQ(Run1({"Unsqueeze", 13}, std::move(a)).shape(), (Shape{3, 4, 1, 5, 1, 1}));
  std::vector<Tensor> b;
  b.push_back(Iota(Shape{3, 4}));
  EXPECT_EQ(Run1({"Unsqueeze", 11, {{"axes", IntsAttr({-1, 0})}}}, std::move(b)).shape(),
            (Shape{1, 3, 4, 1}));
  // A scalar int64 (a gathered dim) becomes a one-element vector.
  std::vector<Tensor> c;
  c.push_back(I64(Shape{}, {7}));
  c.push_back(I64s({0}));
  Tensor out = Run1({"Unsqueeze", 13}, std::move(c));
  EXPECT_EQ(out.shape(), (Shape{1}));
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{7}));
}

TEST(ShapeOpsTest, ConstantOfShapeDefaultAndTypedValue) {
  std::vector<Tensor> a;
  a.push_back(I64s({2, 3}));
  Tensor zeros = Run1({"ConstantOfShape", 9}, std::move(a));
  EXPECT_EQ(zeros.dtype(), DataType::kF32);
  EXPECT_EQ(Values<float>(zeros), std::vector<float>(6, 0.0f));
  std::vector<Tensor> b;
  b.push_back(I64s({2}));
  Tensor value = Tensor::FromVector<int32_t>(Shape{1}, {-7});
  Tensor sevens = Run1({"ConstantOfShape", 9, {{"value", testing::TensorAttr(std::move(value))}}},
                       std::move(b));
  EXPECT_EQ(Values<int32_t>(sevens), (std::vector<int32_t>{-7, -7}));
}

TEST(ShapeOpsTest, RangeIntegerAndFloat) {
  std::vector<Tensor> a;
  a.push_back(Tensor::FromVector<int32_t>(Shape{}, {10}));
  a.push_back(Tensor::FromVector<int32_t>(Shape{}, {6}));
  a.push_back(Tensor::FromVector<int32_t>(Shape{}, {-3}));
  EXPECT_EQ(Values<int32_t>(Run1({"Range", 11}, std::move(a))), (std::vector<int32_t>{10, 7}));
  std::vector<Tensor> b;
  b.push_back(F32(Shape{}, {1.0f}));
  b.push_back(F32(Shape{}, {5.0f}));
  b.push_back(F32(Shape{}, {1.5f}));
  EXPECT_EQ(Values<float>(Run1({"Range", 11}, std::move(b))),
            (std::vector<float>{1.0f, 2.5f, 4.0f}));
  std::vector<Tensor> c;
  c.push_back(I64(Shape{}, {0}));
  c.push_back(I64(Shape{}, {-4}));
  c.push_back(I64(Shape{}, {1}));
  EXPECT_EQ(Run1({"Range", 11}, std::move(c)).NumElements(), 0);
}

// The subgraph PyTorch emits for x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat
// -> Reshape, all on int64.
TEST(ShapeOpsTest, PyTorchShapeSubgraph) {
  ir::Graph g;
  g.opset = 13;
  g.weights["x"] = Iota(Shape{2, 3, 4});
  g.weights["zero"] = I64(Shape{}, {0});
  g.weights["axes0"] = I64s({0});
  g.weights["minus1"] = I64s({-1});
  auto add = [&](std::string op, std::vector<std::string> ins, std::string out,
                 ir::AttributeMap attrs = {}) {
    ir::Node n;
    n.name = out;
    n.op_type = std::move(op);
    n.inputs = std::move(ins);
    n.outputs = {out};
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
  };
  ir::AttributeMap axis0;
  axis0.Set("axis", IntAttr(0));
  add("Shape", {"x"}, "shape");
  add("Gather", {"shape", "zero"}, "batch", axis0);
  add("Unsqueeze", {"batch", "axes0"}, "batch1");
  add("Concat", {"batch1", "minus1"}, "target", axis0);
  add("Reshape", {"x", "target"}, "y");
  ir::ValueInfo y;
  y.name = "y";
  g.outputs.push_back(y);
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  auto r = (*ex)->Run({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Tensor& out = r->at("y");
  EXPECT_EQ(out.shape(), (Shape{2, 12}));
  EXPECT_EQ(Values<float>(out)[13], 13.0f);
}

}  // namespace
}  // namespace refit::reference
