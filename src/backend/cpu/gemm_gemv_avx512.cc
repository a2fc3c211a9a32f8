// gemm_gemv's AVX-512 kernel (gemm_microkernel.h: GemvRowsAvx512). Compiled with -mavx512f
// -mavx512bw -mavx512dq -mavx512vl -mfma; no standard-library inline code here.
#include <immintrin.h>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/gemm_microkernel.h"

// GCC 12 reports the internal _mm512_undefined_ps() of the masked loads' and reductions'
// expansions as (maybe) uninitialized: false positives (see gemm_kernels_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace refit::cpu::internal {
namespace {

// M rows of A against R rows of W (R = 4, or 1 for the last rows), every dot product in a vector
// of partial sums reduced at the end.
template <int M, int R>
void Block(int64_t k, const float* a, int64_t lda, const float* w, float* y, int64_t ldy) {
  __m512 acc[M][R];
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int q = 0; q < R; ++q) acc[i][q] = _mm512_setzero_ps();
  }
  const int64_t whole = k / 16 * 16;
  for (int64_t p = 0; p <= whole; p += 16) {
    if (p == k) break;
    const __mmask16 mask = p < whole ? __mmask16(0xffff) : FirstLanes16(k - p);
    __m512 wv[R];
#pragma GCC unroll 4
    for (int q = 0; q < R; ++q) wv[q] = _mm512_maskz_loadu_ps(mask, w + q * k + p);
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      const __m512 av = _mm512_maskz_loadu_ps(mask, a + i * lda + p);
#pragma GCC unroll 4
      for (int q = 0; q < R; ++q) acc[i][q] = _mm512_fmadd_ps(av, wv[q], acc[i][q]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int q = 0; q < R; ++q) y[i * ldy + q] = _mm512_reduce_add_ps(acc[i][q]);
  }
}

template <int M>
void Rows(int64_t k, const float* a, int64_t lda, const float* w, int64_t j0, int64_t j1, float* y,
          int64_t ldy) {
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) Block<M, 4>(k, a, lda, w + j * k, y + j, ldy);
  for (; j < j1; ++j) Block<M, 1>(k, a, lda, w + j * k, y + j, ldy);
}

}  // namespace

void GemvRowsAvx512(int m, int64_t k, const float* a, int64_t lda, const float* w, int64_t j0,
                    int64_t j1, float* y, int64_t ldy) {
  switch (m) {
    case 1:
      return Rows<1>(k, a, lda, w, j0, j1, y, ldy);
    case 2:
      return Rows<2>(k, a, lda, w, j0, j1, y, ldy);
    case 3:
      return Rows<3>(k, a, lda, w, j0, j1, y, ldy);
    default:
      return Rows<4>(k, a, lda, w, j0, j1, y, ldy);
  }
}

}  // namespace refit::cpu::internal
