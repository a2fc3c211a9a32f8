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

std::vector<Tensor> Inputs(Tensor a) {
  std::vector<Tensor> v;
  v.push_back(std::move(a));
  return v;
}
std::vector<Tensor> Inputs(Tensor a, Tensor b) {
  std::vector<Tensor> v = Inputs(std::move(a));
  v.push_back(std::move(b));
  return v;
}

TEST(LayoutOpsTest, TransposeWithPermMatchesIndexFormula) {
  Tensor out =
      Run1({"Transpose", 13, {{"perm", IntsAttr({1, 2, 0})}}}, Inputs(Iota(Shape{2, 3, 4})));
  ASSERT_EQ(out.shape(), (Shape{3, 4, 2}));
  const std::vector<float> v = Values<float>(out);
  for (int j = 0; j < 3; ++j) {
    for (int k = 0; k < 4; ++k) {
      for (int i = 0; i < 2; ++i)
        EXPECT_EQ(v[size_t((j * 4 + k) * 2 + i)], float(i * 12 + j * 4 + k));
    }
  }
}

TEST(LayoutOpsTest, TransposeDefaultReversesAndKeepsDtype) {
  Tensor in = Tensor::FromVector<bool>(Shape{2, 3}, {true, false, false, false, true, true});
  Tensor out = Run1({"Transpose", 13}, Inputs(std::move(in)));
  ASSERT_EQ(out.shape(), (Shape{3, 2}));
  EXPECT_EQ(Values<bool>(out), (std::vector<bool>{true, false, false, true, false, true}));
  Tensor in64 = I64(Shape{2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(Values<int64_t>(Run1({"Transpose", 13}, Inputs(std::move(in64)))),
            (std::vector<int64_t>{1, 3, 2, 4}));
}

TEST(LayoutOpsTest, ConcatAlongMiddleAxis) {
  Tensor out = Run1(
      {"Concat", 13, {{"axis", IntAttr(-2)}}},
      Inputs(F32(Shape{2, 1, 2}, {1, 2, 3, 4}), F32(Shape{2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12})));
  ASSERT_EQ(out.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}));
}

TEST(LayoutOpsTest, ConcatInt64WithEmptyAndMismatch) {
  Tensor out = Run1({"Concat", 13, {{"axis", IntAttr(0)}}}, Inputs(I64s({3}), I64(Shape{0}, {})));
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{3}));
  EXPECT_FALSE(
      RunNode({"Concat", 13, {{"axis", IntAttr(0)}}}, Inputs(Iota(Shape{2, 2}), Iota(Shape{2, 3})))
          .ok());
}

TEST(LayoutOpsTest, SplitVariableEqualAndAttribute) {
  NodeSpec spec{"Split", 13, {{"axis", IntAttr(1)}}, 2};
  auto r = RunNode(spec, Inputs(Iota(Shape{2, 6}), I64s({2, 4})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 1, 6, 7}));
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11}));

  NodeSpec equal{"Split", 13, {}, 3};
  auto e = RunNode(equal, Inputs(Iota(Shape{6})));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(Values<float>((*e)[2]), (std::vector<float>{4, 5}));

  NodeSpec old{"Split", 11, {{"split", IntsAttr({1, 2})}}, 2};
  auto o = RunNode(old, Inputs(Iota(Shape{3})));
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(Values<float>((*o)[1]), (std::vector<float>{1, 2}));

  EXPECT_FALSE(RunNode(spec, Inputs(Iota(Shape{2, 6}), I64s({2, 3}))).ok());
}

TEST(LayoutOpsTest, ExpandBroadcastsBothWays) {
  Tensor out = Run1({"Expand", 13}, Inputs(F32(Shape{3, 1}, {1, 2, 3}), I64s({2, 1, 2})));
  ASSERT_EQ(out.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  // A 1 in the target keeps the input's larger dim.
  Tensor same = Run1({"Expand", 13}, Inputs(F32(Shape{3, 1}, {1, 2, 3}), I64s({1, 1})));
  EXPECT_EQ(same.shape(), (Shape{3, 1}));
}

TEST(LayoutOpsTest, TileRepeatsEachAxis) {
  Tensor out = Run1({"Tile", 13}, Inputs(F32(Shape{2, 2}, {0, 1, 2, 3}), I64s({2, 2})));
  ASSERT_EQ(out.shape(), (Shape{4, 4}));
  EXPECT_EQ(Values<float>(out),
            (std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3}));
  Tensor none = Run1({"Tile", 13}, Inputs(F32(Shape{2}, {0, 1}), I64s({0})));
  EXPECT_EQ(none.shape(), (Shape{0}));
}

}  // namespace
}  // namespace refit::reference
