#include "backend/reference/ref_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace refit::reference {
namespace {

// C = op(A) op(B) by the textbook triple loop in double.
std::vector<double> NaiveGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                              const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> c(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        s += double(ta ? a[p * m + i] : a[i * k + p]) * double(tb ? b[j * k + p] : b[p * n + j]);
      }
      c[size_t(i * n + j)] = s;
    }
  }
  return c;
}

std::vector<float> RandomVector(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size);
  for (float& x : v) x = dist(rng);
  return v;
}

struct GemmCase {
  int64_t m, n, k;
};

// Shapes cross the row-group (4), column-block (1024) and depth-block (128) boundaries.
class RefGemmTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(RefGemmTest, MatchesNaiveForEveryTransposeAndThreadCount) {
  const GemmCase c = GetParam();
  const std::vector<float> a = RandomVector(size_t(c.m * c.k), 1);
  const std::vector<float> b = RandomVector(size_t(c.k * c.n), 2);
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const std::vector<double> want = NaiveGemm(ta, tb, c.m, c.n, c.k, a, b);
      std::vector<float> got(want.size(), 7.0f);  // garbage that must be overwritten
      RefGemm(p, ta, tb, c.m, c.n, c.k, a.data(), b.data(), got.data());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::sqrt(double(c.k))))
            << "element " << i << " trans " << ta << tb << " threads " << (p ? 2 : 1);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RefGemmTest,
                         ::testing::Values(GemmCase{1, 1, 1}, GemmCase{3, 5, 2}, GemmCase{4, 4, 4},
                                           GemmCase{9, 17, 130}, GemmCase{7, 1030, 260},
                                           GemmCase{33, 40, 0}));

TEST(RefGemm, AccumulateAddsToC) {
  const std::vector<double> a = {1, 2, 3, 4};  // [[1,2],[3,4]]
  const std::vector<double> b = {5, 6, 7, 8};  // [[5,6],[7,8]]
  std::vector<double> c = {1, 1, 1, 1};
  RefGemm(nullptr, false, false, 2, 2, 2, a.data(), b.data(), c.data(), /*accumulate=*/true);
  EXPECT_EQ(c, (std::vector<double>{20, 23, 44, 51}));
}

TEST(RefGemm, IntegerTypes) {
  const std::vector<int64_t> a = {1, 2, 3};  // [1,3]
  const std::vector<int64_t> b = {4, 5, 6};  // [3,1]
  std::vector<int64_t> c(1);
  RefGemm(nullptr, false, false, 1, 1, 3, a.data(), b.data(), c.data());
  EXPECT_EQ(c[0], 32);
  const std::vector<int32_t> a32 = {1, -2, 3, 4};  // stored transposed: op(A) = [[1,3],[-2,4]]
  const std::vector<int32_t> b32 = {1, 1};
  std::vector<int32_t> c32(2);
  RefGemm(nullptr, true, false, 2, 1, 2, a32.data(), b32.data(), c32.data());
  EXPECT_EQ(c32, (std::vector<int32_t>{4, 2}));
}

}  // namespace
}  // namespace refit::reference
