#include <gtest/gtest.h>

#include "backend/reference/conv_test_util.h"

namespace refit::reference {
namespace {

using namespace conv_testing;

TEST(MatMul, HandComputed2D) {
  Tensor a = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = F32({3, 2}, {7, 8, 9, 10, 11, 12});
  ExpectNear(Run1("MatMul", {std::move(a), std::move(b)}), Shape({2, 2}), {58, 64, 139, 154});
}

TEST(MatMul, VectorPromotionDropsTheAddedDims) {
  Tensor m = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = F32({3}, {1, 0, -1});
  ExpectNear(Run1("MatMul", {m.Clone(), v.Clone()}), Shape({2}), {-2, -2});
  Tensor v2 = F32({2}, {1, 1});
  ExpectNear(Run1("MatMul", {v2.Clone(), m.Clone()}), Shape({3}), {5, 7, 9});
  ExpectNear(Run1("MatMul", {v.Clone(), v.Clone()}), Shape({}), {2});
  // A 1-D operand against a batched one: [3] x [2,3,1] -> [2,1].
  Tensor batched = F32({2, 3, 1}, {1, 2, 3, 4, 5, 6});
  ExpectNear(Run1("MatMul", {v.Clone(), std::move(batched)}), Shape({2, 1}), {-2, -2});
}

// Batched product through explicit broadcast indexing, in double.
std::vector<double> NaiveBatched(const std::vector<double>& a, const std::vector<double>& b) {
  // a [2,1,2,3], b [3,3,2] -> [2,3,2,2]
  std::vector<double> y;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int r = 0; r < 2; ++r) {
        for (int c = 0; c < 2; ++c) {
          double s = 0;
          for (int p = 0; p < 3; ++p)
            s += a[size_t(i * 6 + r * 3 + p)] * b[size_t(j * 6 + p * 2 + c)];
          y.push_back(s);
        }
      }
    }
  }
  return y;
}

TEST(MatMul, BatchBroadcastSingleAndMultiThreaded) {
  Tensor a = Random({2, 1, 2, 3}, 1);
  Tensor b = Random({3, 3, 2}, 2);
  const std::vector<double> want = NaiveBatched(AsDoubles(a), AsDoubles(b));
  for (int threads : {1, 2}) {
    ExpectNear(Run1("MatMul", {a.Clone(), b.Clone()}, {}, threads), Shape({2, 3, 2, 2}), want);
  }
}

TEST(MatMul, IntegerHalfAndDouble) {
  Tensor a = Tensor::FromVector<int64_t>({1, 2}, {3, -4});
  Tensor b = Tensor::FromVector<int64_t>({2, 1}, {5, 6});
  Tensor y = Run1("MatMul", {std::move(a), std::move(b)});
  ASSERT_EQ(y.dtype(), DataType::kI64);
  EXPECT_EQ(y.data_as<int64_t>()[0], -9);
  Tensor ha = Tensor::FromVector<Half>({1, 2}, {Half(0.5f), Half(2.0f)});
  Tensor hb = Tensor::FromVector<Half>({2, 1}, {Half(3.0f), Half(0.25f)});
  Tensor hy = Run1("MatMul", {std::move(ha), std::move(hb)});
  ASSERT_EQ(hy.dtype(), DataType::kF16);
  ExpectNear(hy, Shape({1, 1}), {2.0});
  Tensor da = Tensor::FromVector<double>({1, 2}, {1e-10, 1.0});
  Tensor db = Tensor::FromVector<double>({2, 1}, {1.0, 1.0});
  // Accumulated in float, 1 + 1e-10 would round to 1; in double it does not.
  Tensor dy = Run1("MatMul", {std::move(da), std::move(db)});
  ASSERT_EQ(dy.dtype(), DataType::kF64);
  EXPECT_NEAR(dy.data_as<double>()[0] - 1.0, 1e-10, 1e-15);
}

TEST(MatMul, RejectsInnerDimensionMismatch) {
  auto r = RunOp("MatMul", {Random({2, 3}, 1), Random({4, 2}, 2)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("inner dimensions"), std::string::npos);
}

TEST(Gemm, TransposesAlphaBetaAndBroadcastC) {
  // A^T with A stored [3,2]; B^T with B stored [2,3]; op(A) = [[1,3,5],[2,4,6]], op(B) = I-ish.
  Tensor a = F32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor b = F32({2, 3}, {1, 0, 0, 0, 1, 1});  // op(B) = [[1,0],[0,1],[0,1]]
  // op(A) op(B) = [[1, 8], [2, 10]].
  Attrs attrs = {{"transA", Int(1)}, {"transB", Int(1)}, {"alpha", Float(2)}, {"beta", Float(0.5)}};
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone(), F32({2}, {10, 20})}, attrs), Shape({2, 2}),
             {2 + 5, 16 + 10, 4 + 5, 20 + 10});
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone(), F32({2, 1}, {10, 20})}, attrs), Shape({2, 2}),
             {2 + 5, 16 + 5, 4 + 10, 20 + 10});
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone(), F32({}, {4})}, attrs), Shape({2, 2}),
             {4, 18, 6, 22});
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone(), F32({2, 2}, {1, 2, 3, 4})}, attrs), Shape({2, 2}),
             {2.5, 17, 5.5, 22});
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone()}, attrs), Shape({2, 2}), {2, 16, 4, 20});
}

TEST(Gemm, LargeMatchesMatMulPlusBias) {
  Tensor a = Random({37, 150}, 3);
  Tensor b = Random({150, 29}, 4);
  Tensor c = Random({29}, 5);
  Tensor mm = Run1("MatMul", {a.Clone(), b.Clone()});
  std::vector<double> want = AsDoubles(mm);
  const std::vector<double> bias = AsDoubles(c);
  for (size_t i = 0; i < want.size(); ++i) want[i] += bias[i % 29];
  ExpectNear(Run1("Gemm", {a.Clone(), b.Clone(), c.Clone()}, {}, 2), Shape({37, 29}), want);
}

TEST(Gemm, RejectsCThatDoesNotBroadcast) {
  auto r = RunOp("Gemm", {Random({2, 3}, 1), Random({3, 4}, 2), Random({3}, 3)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not broadcast"), std::string::npos);
}

}  // namespace
}  // namespace refit::reference
