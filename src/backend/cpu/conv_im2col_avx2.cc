// AVX2 im2col helpers (compiled with -mavx2 -mfma): the phase-plane fill shared by the depthwise
// and GEMM convolutions, and the packed-B panel writer. No standard-library inline code here: see
// conv_isa.h.
#include <immintrin.h>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

// Copies n floats (n <= nr) with whole and masked vectors; masked lanes are neither read nor
// written.
inline void CopyExact(const float* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
  if (i < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst + i, mask, _mm256_maskload_ps(src + i, mask));
  }
}

template <int NV>
void PackRuns(const float* const* src, const int64_t* dst_off, int runs, const int64_t* row_off,
              int64_t k, int64_t nr, int64_t cols, float* panel) {
  // Whole panels: every run copies NV full vectors; a run's overhang past its end lands on the
  // next run's columns (rewritten right after) or on the next row (written next), so only the
  // last row needs exact lengths. NV == 0: exact copies throughout.
  const int64_t fast_rows = NV > 0 && cols == nr ? k - 1 : 0;
  for (int64_t i = 0; i < fast_rows; ++i) {
    float* dst = panel + i * nr;
    for (int r = 0; r < runs; ++r) {
      const float* s = src[r] + row_off[i];
      float* d = dst + dst_off[r];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(d + 8 * v, _mm256_loadu_ps(s + 8 * v));
    }
  }
  for (int64_t i = fast_rows; i < k; ++i) {
    float* dst = panel + i * nr;
    for (int r = 0; r < runs; ++r) {
      const int64_t end = r + 1 < runs ? dst_off[r + 1] : cols;
      CopyExact(src[r] + row_off[i], dst + dst_off[r], end - dst_off[r]);
    }
    for (int64_t j = cols; j < nr; ++j) dst[j] = 0.0f;
  }
}

}  // namespace

void PackRunsPanelAvx2(const float* const* src, const int64_t* dst_off, int runs,
                       const int64_t* row_off, int64_t k, int64_t nr, int64_t cols, float* panel) {
  switch (nr / 8) {
    case 2:
      return PackRuns<2>(src, dst_off, runs, row_off, k, nr, cols, panel);
    case 3:
      return PackRuns<3>(src, dst_off, runs, row_off, k, nr, cols, panel);
    case 4:
      return PackRuns<4>(src, dst_off, runs, row_off, k, nr, cols, panel);
    case 6:
      return PackRuns<6>(src, dst_off, runs, row_off, k, nr, cols, panel);
    default:  // exact copies only
      return PackRuns<0>(src, dst_off, runs, row_off, k, nr, cols, panel);
  }
}

namespace {
int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// Input columns x .. x + 7 of a row of in_w floats, zeros outside [0, in_w). Lanes outside are
// masked: never read, so they cannot fault, and the address is formed as an integer so no pointer
// leaves the row.
inline __m256 LoadRow8(const float* src, int64_t in_w, int64_t x) {
  if (x >= 0 && x + 8 <= in_w) return _mm256_loadu_ps(src + x);
  if (x + 8 <= 0 || x >= in_w) return _mm256_setzero_ps();
  const __m256i lane =
      _mm256_add_epi32(_mm256_set1_epi32(int(x)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i inside =
      _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), lane),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(int(in_w)), lane));
  const auto at = reinterpret_cast<uintptr_t>(src) + uintptr_t(x) * sizeof(float);
  return _mm256_maskload_ps(reinterpret_cast<const float*>(at), inside);
}

// One padded row of a stride-2 or stride-4 phase plane, in vectors throughout: index i of phase q
// is column stride_w * i + q, input column stride_w * i + q - pad_left. The padding comes from
// LoadRow8's zeros; each phase's last vector is stored masked when it would run into the next
// phase (written before it).
void StridedRowAvx2(const PhasePlaneFill& f, const float* src, float* dst) {
  auto store = [&](float* phase, int64_t i, __m256 v) {
    if (i + 8 <= f.phase_len) {
      _mm256_storeu_ps(phase + i, v);
    } else {
      _mm256_maskstore_ps(phase + i, FirstLanes(f.phase_len - i), v);
    }
  };
  if (f.stride_w == 2) {
    const __m256i even_idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (int64_t i = 0; i < f.phase_len; i += 8) {
      const int64_t x = 2 * i - f.pad_left;
      // Per 128-bit lane: evens then odds; then gather the lanes' halves.
      const __m256 a = _mm256_permutevar8x32_ps(LoadRow8(src, f.in_w, x), even_idx);
      const __m256 b = _mm256_permutevar8x32_ps(LoadRow8(src, f.in_w, x + 8), even_idx);
      store(dst, i, _mm256_permute2f128_ps(a, b, 0x20));
      store(dst + f.phase_len, i, _mm256_permute2f128_ps(a, b, 0x31));
    }
    return;
  }
  // Stride 4: eight 4x4 transposes per 32 input floats.
  for (int64_t i = 0; i < f.phase_len; i += 8) {
    const int64_t x = 4 * i - f.pad_left;
    const __m256 a = LoadRow8(src, f.in_w, x), b = LoadRow8(src, f.in_w, x + 8);
    const __m256 c = LoadRow8(src, f.in_w, x + 16), d = LoadRow8(src, f.in_w, x + 24);
    // Rows of four columns: x0 = columns 0-3 | 16-19, x1 = 4-7 | 20-23, and so on.
    const __m256 x0 = _mm256_permute2f128_ps(a, c, 0x20), x1 = _mm256_permute2f128_ps(a, c, 0x31);
    const __m256 x2 = _mm256_permute2f128_ps(b, d, 0x20), x3 = _mm256_permute2f128_ps(b, d, 0x31);
    const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpacklo_ps(x2, x3);
    const __m256 t2 = _mm256_unpackhi_ps(x0, x1), t3 = _mm256_unpackhi_ps(x2, x3);
    store(dst, i, _mm256_shuffle_ps(t0, t1, 0x44));
    store(dst + f.phase_len, i, _mm256_shuffle_ps(t0, t1, 0xEE));
    store(dst + 2 * f.phase_len, i, _mm256_shuffle_ps(t2, t3, 0x44));
    store(dst + 3 * f.phase_len, i, _mm256_shuffle_ps(t2, t3, 0xEE));
  }
}
}  // namespace

void PhasePlaneFillAvx2(const PhasePlaneFill& f) {
  const int64_t row_len = f.stride_w * f.phase_len;
  for (int64_t r = 0; r < f.rows; ++r) {
    float* dst = f.plane + r * row_len;
    const int64_t iy = r - f.pad_top;
    if (iy < 0 || iy >= f.in_h) {
      for (int64_t i = 0; i + 8 <= row_len; i += 8) _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
      for (int64_t i = row_len / 8 * 8; i < row_len; ++i) dst[i] = 0.0f;
      continue;
    }
    const float* src = f.in + iy * f.in_w;
    if (f.stride_w == 1) {
      // Zeros, the input row's n floats (those that fit in the row), zeros.
      const int64_t left = Min(f.pad_left, f.phase_len);
      const int64_t n = Min(f.in_w, f.phase_len - left);
      if (r + 1 < f.rows && (n + 7) / 8 * 8 <= (f.in_h - iy) * f.in_w) {
        // In whole vectors: the last vector of each part may run into the next input rows (read;
        // the condition keeps that inside the plane) and the next plane row (written later).
        // Masked stores are slow on some x86 cores, and a small plane's row is mostly ends (14
        // columns in a 19-float row).
        for (int64_t z = 0; z < left; z += 8) _mm256_storeu_ps(dst + z, _mm256_setzero_ps());
        float* row = dst + left;
        for (int64_t j = 0; j < n; j += 8) _mm256_storeu_ps(row + j, _mm256_loadu_ps(src + j));
        for (int64_t z = left + n; z < f.phase_len; z += 8) {
          _mm256_storeu_ps(dst + z, _mm256_setzero_ps());
        }
        continue;
      }
      // The last rows: the same with the ends masked, so nothing past the buffers is touched.
      int64_t i = 0;
      for (; i < left; ++i) dst[i] = 0.0f;
      int64_t j = 0;
      for (; j + 8 <= n; j += 8) _mm256_storeu_ps(dst + left + j, _mm256_loadu_ps(src + j));
      if (j < n) {
        const __m256i m = FirstLanes(n - j);
        _mm256_maskstore_ps(dst + left + j, m, _mm256_maskload_ps(src + j, m));
      }
      i = left + n;
      for (; i + 8 <= f.phase_len; i += 8) _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
      if (i < f.phase_len) {
        _mm256_maskstore_ps(dst + i, FirstLanes(f.phase_len - i), _mm256_setzero_ps());
      }
      continue;
    }
    if (f.stride_w == 2 || f.stride_w == 4) {
      StridedRowAvx2(f, src, dst);
      continue;
    }
    // Other strides: index i of phase q is column stride_w * i + q, reading
    // src[stride_w * i + q - pad_left], one by one up to the row's last input, then zeros.
    auto one_index = [&](int64_t at) {
      for (int64_t q = 0; q < f.stride_w; ++q) {
        const int64_t x = f.stride_w * at + q - f.pad_left;
        dst[q * f.phase_len + at] = x >= 0 && x < f.in_w ? src[x] : 0.0f;
      }
    };
    // Past the row's last input (index i_zero on), only zeros, in vectors.
    const int64_t i_zero = Min(f.phase_len, (f.in_w + f.pad_left + f.stride_w - 1) / f.stride_w);
    int64_t i = 0;  // index within each phase
    for (; i < i_zero; ++i) one_index(i);
    for (int64_t q = 0; q < f.stride_w; ++q) {
      float* phase = dst + q * f.phase_len;
      int64_t z = i;
      for (; z + 8 <= f.phase_len; z += 8) _mm256_storeu_ps(phase + z, _mm256_setzero_ps());
      for (; z < f.phase_len; ++z) phase[z] = 0.0f;
    }
  }
}
}  // namespace refit::cpu::internal
