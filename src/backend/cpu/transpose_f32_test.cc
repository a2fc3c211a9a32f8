// TransposeF32 against the definition, dst[j * ldd + i] = src[i * lds + j], over shapes that end
// inside an 8x8 block and inside a 64x64 tile, with row strides past the used width, and with
// every destination float outside the transposed region left untouched.
#include "backend/cpu/transpose_f32.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace refit::cpu
