#include "base/finite.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "base/block_cache.h"
#include "refit/float16.h"

namespace refit {
namespace {

template <typename T>
int64_t First(const std::vector<T>& v) {
  return FirstNonFinite(TensorView(DataTypeOf<T>::value, Shape{int64_t(v.size())}, v.data()));
}

TEST(FiniteTest, FindsTheFirstNanOrInfinityInEveryFloatType) {
  std::vector<float> f(10000, 1.5f);
  f[3] = std::numeric_limits<float>::max();  // large but finite
  f[4] = -0.0f;
  f[5] = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(First(f), -1);
  f[9001] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(First(f), 9001);
  f[4100] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(First(f), 4100);

  std::vector<double> d(17, -3.0);
  EXPECT_EQ(First(d), -1);
  d[16] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(First(d), 16);

  std::vector<Half> h(33, Half(65504.f));  // the largest finite half
  EXPECT_EQ(First(h), -1);
  h[32] = Half(std::numeric_limits<float>::infinity());
  EXPECT_EQ(First(h), 32);

  std::vector<BFloat16> b(5, BFloat16(3e38f));
  EXPECT_EQ(First(b), -1);
  b[2] = BFloat16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(First(b), 2);

  // Integers are always finite, whatever their bits.
  std::vector<int32_t> i(8, 0x7f800000);
  EXPECT_EQ(First(i), -1);
}

TEST(FiniteTest, CopyCheckingFiniteCopiesEverythingAndFindsTheFirstBadElement) {
  std::vector<float> f(20000);
  for (size_t i = 0; i < f.size(); ++i) f[i] = float(i) * 0.5f;
  std::vector<float> dst(f.size(), -1.f);
  const TensorView view(DataType::kF32, Shape{int64_t(f.size())}, f.data());
  EXPECT_EQ(CopyCheckingFinite(view, dst.data()), -1);
  EXPECT_EQ(dst, f);
  f[19999] = std::numeric_limits<float>::infinity();
  f[12345] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(CopyCheckingFinite(view, dst.data()), 12345);
  EXPECT_TRUE(std::isinf(dst[19999]));  // still copied in full
}

TEST(BlockCacheTest, LargeTensorBuffersAreReusedAndSmallOnesNot) {
  const int64_t n = int64_t(internal::BlockCache::kMinBytes / 4) + 1000;
  const void* first = nullptr;
  {
    auto t = Tensor::Uninitialized(DataType::kF32, Shape{n});
    ASSERT_TRUE(t.ok());
    first = t->data();
  }
  auto again = Tensor::Create(DataType::kF32, Shape{n});
  ASSERT_TRUE(again.ok());
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(again->data(), first);  // the same pages, without a fresh mapping
#endif
  // Create still zero-fills a reused block.
  for (int64_t k = 0; k < n; k += 997) ASSERT_EQ(again->data_as<float>()[k], 0.0f);
}

}  // namespace
}  // namespace refit
