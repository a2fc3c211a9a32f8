#include <gtest/gtest.h>

#include "backend/reference/conv_test_util.h"

namespace refit::reference {
namespace {

using namespace conv_testing;

Tensor Einsum(const std::string& eq, const std::vector<Input>& inputs) {
  return Run1("Einsum", inputs, {{"equation", Str(eq)}});
}

TEST(Einsum, MatMulExplicitAndImplicit) {
  Tensor a = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = F32({3, 2}, {7, 8, 9, 10, 11, 12});
  ExpectNear(Einsum("ij,jk->ik", {a.Clone(), b.Clone()}), Shape({2, 2}), {58, 64, 139, 154});
  // Implicit output: labels used once (i, k), alphabetically.
  ExpectNear(Einsum("ij,jk", {a.Clone(), b.Clone()}), Shape({2, 2}), {58, 64, 139, 154});
  // Implicit output sorts: "ji" alone is the transpose of a.
  ExpectNear(Einsum("ji", {a.Clone()}), Shape({3, 2}), {1, 4, 2, 5, 3, 6});
}

TEST(Einsum, TraceDiagonalSumAndOuterProduct) {
  Tensor m = F32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  ExpectNear(Einsum("ii", {m.Clone()}), Shape({}), {15});
  ExpectNear(Einsum("ii->i", {m.Clone()}), Shape({3}), {1, 5, 9});
  ExpectNear(Einsum("ij->", {m.Clone()}), Shape({}), {45});
  ExpectNear(Einsum("ij -> j", {m.Clone()}), Shape({3}), {12, 15, 18});
  ExpectNear(Einsum("i,j->ij", {F32({2}, {1, 2}), F32({3}, {1, 10, 100})}), Shape({2, 3}),
             {1, 10, 100, 2, 20, 200});
}

TEST(Einsum, EllipsisBatchDiagonalAndBroadcast) {
  // Batch diagonal of two 2x2 matrices.
  Tensor x = F32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  ExpectNear(Einsum("...ii->...i", {x.Clone()}), Shape({2, 2}), {1, 4, 5, 8});
  // Ellipsis dims broadcast: [2,1] against [3] -> [2,3]; each result is a 1x1 dot product.
  Tensor a = F32({2, 1, 1, 2}, {1, 2, 3, 4});
  Tensor b = F32({3, 2, 1}, {1, 1, 0, 1, 1, 0});
  ExpectNear(Einsum("...ij,...jk->...ik", {a.Clone(), b.Clone()}), Shape({2, 3, 1, 1}),
             {3, 2, 1, 7, 4, 3});
  // Implicit output puts the ellipsis first.
  ExpectNear(Einsum("...ij,...jk", {a.Clone(), b.Clone()}), Shape({2, 3, 1, 1}),
             {3, 2, 1, 7, 4, 3});
}

TEST(Einsum, ThreeOperandsAndUppercaseLabels) {
  Tensor a = F32({1, 2}, {1, 2});
  Tensor b = F32({2, 2}, {1, 2, 3, 4});
  Tensor c = F32({2, 1}, {1, -1});
  // a b = [7, 10]; times c = -3.
  ExpectNear(Einsum("iJ,JK,Kl->il", {a.Clone(), b.Clone(), c.Clone()}), Shape({1, 1}), {-3});
  // Implicit: 'B' sorts before 'a' (ASCII), so "aB" alone becomes "Ba", a transpose.
  ExpectNear(Einsum("aB", {b.Clone()}), Shape({2, 2}), {1, 3, 2, 4});
}

TEST(Einsum, DoubleAndIntegerInputs) {
  Tensor d = Tensor::FromVector<double>({3}, {0.1, 0.2, 0.3});
  Tensor y = Einsum("i,i", {d.Clone(), d.Clone()});
  ASSERT_EQ(y.dtype(), DataType::kF64);
  EXPECT_NEAR(y.data_as<double>()[0], 0.14, 1e-15);
  Tensor n = Tensor::FromVector<int32_t>({2, 2}, {1, 2, 3, 4});
  Tensor t = Einsum("ij->ji", {n.Clone()});
  ASSERT_EQ(t.dtype(), DataType::kI32);
  ExpectNear(t, Shape({2, 2}), {1, 3, 2, 4});
}

TEST(Einsum, RejectsMalformedEquations) {
  Tensor m = F32({2, 2}, {1, 2, 3, 4});
  EXPECT_FALSE(RunOp("Einsum", {m.Clone()}, {{"equation", Str("ij,jk->ik")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {m.Clone()}, {{"equation", Str("ijk->i")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {m.Clone()}, {{"equation", Str("i1->i")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {m.Clone()}, {{"equation", Str("ij->ik")}}).ok());
  EXPECT_FALSE(
      RunOp("Einsum", {F32({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"equation", Str("ii->i")}}).ok());
}

}  // namespace
}  // namespace refit::reference
