// AVX2 + FMA epilogue (compiled with -mavx2 -mfma; no standard-library inline code here).
#include "backend/cpu/avx2_math.h"
#include "backend/cpu/gemm_epilogue.h"

namespace refit::cpu::internal {
namespace {

// One row: y = act(alpha * y + beta * c), c either a row (col stride 1), a broadcast value (col
// stride 0) or absent.
// Takes no GemmEpilogue by value: its implicit inline members must not be emitted in this file.
template <ir::ActivationKind K>
void Row(const ir::FusedActivation& act, float alpha_s, float beta_s, const float* c, bool c_row,
         int64_t n, float* y) {
  const __m256 alpha = _mm256_set1_ps(alpha_s), beta = _mm256_set1_ps(beta_s);
  const __m256 c_scalar = _mm256_set1_ps(c != nullptr && !c_row ? beta_s * c[0] : 0.0f);
  const bool scale = alpha_s != 1.0f;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_loadu_ps(y + j);
    if (scale) v = _mm256_mul_ps(v, alpha);
    if (c_row) {
      v = _mm256_fmadd_ps(beta, _mm256_loadu_ps(c + j), v);
    } else if (c != nullptr) {
      v = _mm256_add_ps(v, c_scalar);
    }
    _mm256_storeu_ps(y + j, Activate256<K>(act, v));
  }
  if (j < n) {
    const __m256i mask = TailMask256(n - j);
    __m256 v = _mm256_maskload_ps(y + j, mask);
    if (scale) v = _mm256_mul_ps(v, alpha);
    if (c_row) {
      v = _mm256_fmadd_ps(beta, _mm256_maskload_ps(c + j, mask), v);
    } else if (c != nullptr) {
      v = _mm256_add_ps(v, c_scalar);
    }
    _mm256_maskstore_ps(y + j, mask, Activate256<K>(act, v));
  }
}

}  // namespace

void ApplyGemmEpilogueAvx2(const GemmEpilogue& ep, int64_t row0, int64_t rows, int64_t n, float* y,
                           int64_t ldy) {
  WithActivation256(ep.act, [&]<ir::ActivationKind K>() {
    for (int64_t i = 0; i < rows; ++i) {
      const float* c = ep.c != nullptr ? ep.c + (row0 + i) * ep.c_row_stride : nullptr;
      Row<K>(ep.act, ep.alpha, ep.beta, c, c != nullptr && ep.c_col_stride != 0, n, y + i * ldy);
    }
  });
}

void ActivateInPlaceAvx2(const ir::FusedActivation& act, float* x, int64_t n) {
  WithActivation256(act,
                    [&]<ir::ActivationKind K>() { Row<K>(act, 1.0f, 1.0f, nullptr, false, n, x); });
}

}  // namespace refit::cpu::internal
