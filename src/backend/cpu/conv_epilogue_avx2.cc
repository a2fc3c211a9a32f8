// AVX2 + FMA bias + activation epilogue (compiled with -mavx2 -mfma). The vector math and the
// activations are avx2_math.h's, shared with the GEMM and softmax kernels; its functions are
// static inline, so nothing here can leak into ISA-neutral code (see conv_isa.h).
#include <immintrin.h>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

template <ir::ActivationKind kKind>
void Rows(const ir::FusedActivation& act, const float* bias, float* y, int64_t rows, int64_t cols,
          int64_t ld) {
  const int64_t full = cols / 8 * 8;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    const __m256 b = _mm256_set1_ps(bias != nullptr ? bias[r] : 0.0f);
    for (int64_t j = 0; j < full; j += 8) {
      _mm256_storeu_ps(row + j,
                       Activate256<kKind>(act, _mm256_add_ps(_mm256_loadu_ps(row + j), b)));
    }
    if (full < cols) {
      alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t j = full; j < cols; ++j) tail[j - full] = row[j];
      _mm256_store_ps(tail, Activate256<kKind>(act, _mm256_add_ps(_mm256_load_ps(tail), b)));
      for (int64_t j = full; j < cols; ++j) row[j] = tail[j - full];
    }
  }
}

}  // namespace

void BiasActivationAvx2(ir::ActivationKind kind, float alpha, float beta, const float* bias,
                        float* y, int64_t rows, int64_t cols, int64_t ld) {
  const ir::FusedActivation act{kind, alpha, beta};
  WithActivation256(act, [&]<ir::ActivationKind K>() { Rows<K>(act, bias, y, rows, cols, ld); });
}

}  // namespace refit::cpu::internal
