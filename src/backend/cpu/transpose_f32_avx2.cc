// AVX2 half of transpose_f32.h (compiled with -mavx2 -mfma). No standard-library inline code
// here: see conv_isa.h.
#include <immintrin.h>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/transpose_f32.h"

namespace refit::cpu::internal {
namespace {

// One full 8x8 block, transposed in registers (avx2_math.h: Transpose8x8). With kCheck,
// ORs into `*flags` a value whose sign bits are set where an element is NaN or infinite: with the
// sign dropped, one exponent step more carries into the top bit exactly for those.
template <bool kCheck>
inline void TransposeBlock(const float* s, int64_t lds, float* d, int64_t ldd, __m256i* flags) {
  __m256 r[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(s + k * lds);
  if constexpr (kCheck) {
    const __m256i magnitude = _mm256_set1_epi32(0x7fffffff), step = _mm256_set1_epi32(0x00800000);
    for (int k = 0; k < 8; ++k) {
      *flags = _mm256_or_si256(
          *flags, _mm256_add_epi32(_mm256_and_si256(_mm256_castps_si256(r[k]), magnitude), step));
    }
  }
  Transpose8x8(r);
  for (int k = 0; k < 8; ++k) _mm256_storeu_ps(d + k * ldd, r[k]);
}

// One element of the ragged edges, checked as TransposeBlock checks.
template <bool kCheck>
inline void Move(const float* s, float* d, uint32_t* flags) {
  *d = *s;
  if constexpr (kCheck) {
    const __m128i v = _mm_castps_si128(_mm_load_ss(s));
    *flags |= uint32_t(_mm_cvtsi128_si32(
        _mm_add_epi32(_mm_and_si128(v, _mm_set1_epi32(0x7fffffff)), _mm_set1_epi32(0x00800000))));
  }
}

// Returns false when kCheck and an element is not finite.
template <bool kCheck>
bool Transpose(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  // 64x64 tiles (16 KiB read, 16 KiB written: both in L1), and in a tile the 8x8 blocks of one
  // destination row band before the next: each destination line is written whole while it is in
  // L1, instead of in 32-byte halves a band apart.
  constexpr int64_t kTile = 64;
  __m256i flags = _mm256_setzero_si256();
  uint32_t edge_flags = 0;
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  for (int64_t i0 = 0; i0 < rows8; i0 += kTile) {
    const int64_t i1 = i0 + kTile < rows8 ? i0 + kTile : rows8;
    for (int64_t j0 = 0; j0 < cols8; j0 += kTile) {
      const int64_t j1 = j0 + kTile < cols8 ? j0 + kTile : cols8;
      for (int64_t j = j0; j < j1; j += 8) {
        for (int64_t i = i0; i < i1; i += 8) {
          TransposeBlock<kCheck>(src + i * lds + j, lds, dst + j * ldd + i, ldd, &flags);
        }
      }
    }
    // Ragged right edge: a column of the source becomes consecutive destination floats.
    for (int64_t j = cols8; j < cols; ++j) {
      for (int64_t i = i0; i < i1; ++i)
        Move<kCheck>(src + i * lds + j, dst + j * ldd + i, &edge_flags);
    }
  }
  for (int64_t i = rows8; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j)
      Move<kCheck>(src + i * lds + j, dst + j * ldd + i, &edge_flags);
  }
  return _mm256_movemask_ps(_mm256_castsi256_ps(flags)) == 0 && (edge_flags >> 31) == 0;
}

}  // namespace

void TransposeF32Avx2(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                      int64_t ldd) {
  Transpose<false>(src, lds, rows, cols, dst, ldd);
}

bool TransposeF32FiniteAvx2(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                            int64_t ldd) {
  return Transpose<true>(src, lds, rows, cols, dst, ldd);
}

}  // namespace refit::cpu::internal
