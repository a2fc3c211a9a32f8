#include "backend/cpu/transpose_f32.h"

#include <xmmintrin.h>

#include "backend/cpu/cpu_features.h"
#include "base/finite.h"

namespace refit::cpu {

void TransposeF32(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                  int64_t ldd) {
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx && cpu.avx2 && cpu.fma) {
    internal::TransposeF32Avx2(src, lds, rows, cols, dst, ldd);
    return;
  }
  // SSE is baseline x86-64: 4x4 blocks, then the ragged right and bottom edges element-wise.
  const int64_t rows4 = rows / 4 * 4, cols4 = cols / 4 * 4;
  for (int64_t i = 0; i < rows4; i += 4) {
    const float* s = src + i * lds;
    for (int64_t j = 0; j < cols4; j += 4) {
      __m128 r0 = _mm_loadu_ps(s + j), r1 = _mm_loadu_ps(s + lds + j);
      __m128 r2 = _mm_loadu_ps(s + 2 * lds + j), r3 = _mm_loadu_ps(s + 3 * lds + j);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      float* d = dst + j * ldd + i;
      _mm_storeu_ps(d, r0);
      _mm_storeu_ps(d + ldd, r1);
      _mm_storeu_ps(d + 2 * ldd, r2);
      _mm_storeu_ps(d + 3 * ldd, r3);
    }
    for (int64_t j = cols4; j < cols; ++j) {
      for (int64_t ii = i; ii < i + 4; ++ii) dst[j * ldd + ii] = src[ii * lds + j];
    }
  }
  for (int64_t i = rows4; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
  }
}

bool TransposeF32Finite(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                        int64_t ldd) {
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx && cpu.avx2 && cpu.fma) {
    return internal::TransposeF32FiniteAvx2(src, lds, rows, cols, dst, ldd);
  }
  TransposeF32(src, lds, rows, cols, dst, ldd);
  // Then each destination line.
  for (int64_t j = 0; j < cols; ++j) {
    if (FirstNonFinite(TensorView(DataType::kF32, Shape{rows}, dst + j * ldd)) >= 0) return false;
  }
  return true;
}

}  // namespace refit::cpu
