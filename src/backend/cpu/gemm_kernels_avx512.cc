// AVX-512 micro-kernels (compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma). No
// standard-library inline code here: see gemm_microkernel.h.
#include <immintrin.h>

#include "backend/cpu/gemm_microkernel.h"

// GCC 12 reports _mm512_max_ps/_mm512_min_ps's internal _mm512_undefined_ps() as
// maybe-uninitialized (a false positive: the masked-off pass-through lanes are never used with an
// all-ones mask).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace refit::cpu::internal {
namespace {

// MR rows x NV vectors of 16 floats. Accumulators stay in registers: MR * NV + NV + 1 <= 32 zmm.
// kDirectA reads A in place (row stride lda) instead of from a packed panel; B's rows are ldb
// floats apart (NR in a packed panel).
template <int MR, int NV, bool kDirectA>
void MicroKernel(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, const TileEpilogue& ep) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + j * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(kDirectA ? a[i * lda] : a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += kDirectA ? 1 : MR;
    b += ldb;
  }
  const __m512 zero = _mm512_setzero_ps();
  const __m512 six = _mm512_set1_ps(6.0f);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      __m512 v = acc[i][j];
      if (ep.accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(row + j * ep.vector_stride));
      if (ep.last) {
        if (ep.row_bias != nullptr) v = _mm512_add_ps(v, _mm512_set1_ps(ep.row_bias[i]));
        if (ep.bias != nullptr) v = _mm512_add_ps(v, _mm512_loadu_ps(ep.bias + j * 16));
        // max/min return the second operand when either is NaN, so NaN propagates.
        if (ep.act != Activation::kNone) v = _mm512_max_ps(zero, v);
        if (ep.act == Activation::kRelu6) v = _mm512_min_ps(six, v);
      }
      _mm512_storeu_ps(row + j * ep.vector_stride, v);
    }
  }
}

}  // namespace

MicroKernelFn FindAvx512MicroKernel(int mr, int nr, bool direct_a) {
  if (mr == 6 && nr == 32) return direct_a ? &MicroKernel<6, 2, true> : &MicroKernel<6, 2, false>;
  if (mr == 12 && nr == 32) {
    return direct_a ? &MicroKernel<12, 2, true> : &MicroKernel<12, 2, false>;
  }
  if (mr == 8 && nr == 48) return direct_a ? &MicroKernel<8, 3, true> : &MicroKernel<8, 3, false>;
  return nullptr;
}

}  // namespace refit::cpu::internal
