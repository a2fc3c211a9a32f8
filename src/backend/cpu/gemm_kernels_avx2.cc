// AVX2 + FMA micro-kernels (compiled with -mavx2 -mfma). No standard-library inline code here: see
// gemm_microkernel.h.
#include <immintrin.h>

#include "backend/cpu/gemm_microkernel.h"

namespace refit::cpu::internal {
namespace {

// MR rows x NV vectors of 8 floats. Accumulators stay in registers: MR * NV + NV + 1 <= 16 ymm.
// kDirectA reads A in place (row stride lda) instead of from a packed panel; B's rows are ldb
// floats apart (NR in a packed panel).
template <int MR, int NV, bool kDirectA>
void MicroKernel(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, const TileEpilogue& ep) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm256_loadu_ps(b + j * 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(kDirectA ? a + i * lda : a + i);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += kDirectA ? 1 : MR;
    b += ldb;
  }
  const __m256 zero = _mm256_setzero_ps();
  const __m256 six = _mm256_set1_ps(6.0f);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      __m256 v = acc[i][j];
      if (ep.accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(row + j * ep.vector_stride));
      if (ep.last) {
        if (ep.row_bias != nullptr) v = _mm256_add_ps(v, _mm256_broadcast_ss(ep.row_bias + i));
        if (ep.bias != nullptr) v = _mm256_add_ps(v, _mm256_loadu_ps(ep.bias + j * 8));
        // max/min return the second operand when either is NaN, so NaN propagates.
        if (ep.act != Activation::kNone) v = _mm256_max_ps(zero, v);
        if (ep.act == Activation::kRelu6) v = _mm256_min_ps(six, v);
      }
      _mm256_storeu_ps(row + j * ep.vector_stride, v);
    }
  }
}

}  // namespace

MicroKernelFn FindAvx2MicroKernel(int mr, int nr, bool direct_a) {
  if (mr == 6 && nr == 16) return direct_a ? &MicroKernel<6, 2, true> : &MicroKernel<6, 2, false>;
  if (mr == 4 && nr == 24) return direct_a ? &MicroKernel<4, 3, true> : &MicroKernel<4, 3, false>;
  return nullptr;
}

}  // namespace refit::cpu::internal
