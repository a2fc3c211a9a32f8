// TransposeF32 against the definition, dst[j * ldd + i] = src[i * lds + j], over shapes that end
// inside an 8x8 block and inside a 64x64 tile, with row strides past the used width, and with
// every destination float outside the transposed region left untouched.
#include "backend/cpu/transpose_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace refit::cpu {
namespace {

TEST(TransposeF32Test, MatchesTheDefinitionOnRaggedShapes) {
  for (int64_t rows : {1, 7, 8, 9, 63, 64, 65, 130}) {
    for (int64_t cols : {1, 5, 8, 16, 64, 71, 129}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
      const int64_t lds = cols + 3, ldd = rows + 5;
      std::vector<float> src(size_t(rows * lds));
      for (size_t k = 0; k < src.size(); ++k) src[k] = float(k) * 0.5f - 7.0f;
      std::vector<float> dst(size_t(cols * ldd), -1.0f);
      TransposeF32(src.data(), lds, rows, cols, dst.data(), ldd);
      for (int64_t j = 0; j < cols; ++j) {
        for (int64_t i = 0; i < ldd; ++i) {
          const float want = i < rows ? src[size_t(i * lds + j)] : -1.0f;
          ASSERT_EQ(dst[size_t(j * ldd + i)], want) << "dst row " << j << " column " << i;
        }
      }
    }
  }
}

// TransposeF32Finite writes what TransposeF32 writes, and reports a NaN or infinity wherever it
// lies: inside an 8x8 block, in the ragged right or bottom edge. A NaN in the source's stride
// padding (outside the region) is not part of the matrix and is not reported.
TEST(TransposeF32Test, FiniteVariantWritesTheSameAndFindsEveryBadValue) {
  for (int64_t rows : {7, 8, 19, 64, 70}) {
    for (int64_t cols : {5, 8, 16, 67}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
      const int64_t lds = cols + 3, ldd = rows + 5;
      std::vector<float> src(size_t(rows * lds));
      for (size_t k = 0; k < src.size(); ++k) src[k] = float(k) * 0.25f - 3.0f;
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = cols; j < lds; ++j) src[size_t(i * lds + j)] = std::nanf("");
      }
      std::vector<float> want(size_t(cols * ldd), -1.0f), got = want;
      TransposeF32(src.data(), lds, rows, cols, want.data(), ldd);
      EXPECT_TRUE(TransposeF32Finite(src.data(), lds, rows, cols, got.data(), ldd));
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
      const std::pair<int64_t, int64_t> places[] = {
          {0, 0}, {rows / 2, cols / 2}, {rows - 1, cols - 1}, {rows - 1, 0}, {0, cols - 1}};
      for (const auto& [i, j] : places) {
        for (const float bad : {std::numeric_limits<float>::infinity(), std::nanf(""),
                                -std::numeric_limits<float>::infinity()}) {
          std::vector<float> with_bad = src;
          with_bad[size_t(i * lds + j)] = bad;
          EXPECT_FALSE(TransposeF32Finite(with_bad.data(), lds, rows, cols, got.data(), ldd))
              << "bad value at " << i << "," << j;
        }
      }
      // The largest finite values are finite.
      std::vector<float> big(src.size(), std::numeric_limits<float>::max());
      EXPECT_TRUE(TransposeF32Finite(big.data(), lds, rows, cols, got.data(), ldd));
    }
  }
}

}  // namespace
}  // namespace refit::cpu
