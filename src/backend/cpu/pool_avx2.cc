// AVX2 pooling row kernels (compiled with -mavx2 -mfma; no standard-library inline code here).
#include <immintrin.h>

#include "backend/cpu/pool_kernels.h"

namespace refit::cpu::internal {
namespace {

// Eight input values at x[0], x[s], ..., x[7 s]. Stride 2 deinterleaves two loads, which read
// x[15] too: the caller keeps that inside the row.
template <int kStride>
inline __m256 Load8(const float* x, const __m256i gather_idx) {
  if constexpr (kStride == 1) {
    return _mm256_loadu_ps(x);
  } else if constexpr (kStride == 2) {
    const __m256 lo = _mm256_loadu_ps(x), hi = _mm256_loadu_ps(x + 8);
    const __m256 even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
  } else {
    return _mm256_i32gather_ps(x, gather_idx, 4);
  }
}

// Output columns [ow_lo, ow_hi) of one row: block(o) writes outputs o .. o + 7 and reads the row up
// to (o * sw - pad_left) + 7 sw + (kw - 1) dw + extra, which must stay inside it. Blocks run left
// to right; then the rightmost block the row allows, if it reaches past the last one (it
// recomputes some outputs of the block before it, to the same values, instead of leaving them all
// to the scalar code); then the outputs left, one by one.
template <bool kMax, typename Block>
void Row(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale, float* y_row,
         int64_t extra, const Block& block) {
  const int64_t sw = g.sw;
  const int64_t limit = g.iw + g.pad_left - 7 * sw - (g.kw - 1) * g.dw - extra;  // o * sw < limit
  int64_t o = g.ow_lo;
  for (; o + 8 <= g.ow_hi && o * sw < limit; o += 8) block(o);
  if (o < g.ow_hi) {
    int64_t last = limit > 0 ? (limit - 1) / sw : -1;
    last = last < g.ow_hi - 8 ? last : g.ow_hi - 8;
    if (last >= g.ow_lo && last + 8 > o) {
      block(last);
      o = last + 8;
    }
  }
  for (; o < g.ow_hi; ++o) {
    const int64_t first = o * sw - g.pad_left;
    float acc = kMax ? -__builtin_inff() : 0.0f;
    for (int64_t r = 0; r < nrows; ++r) {
      for (int64_t t = 0; t < g.kw; ++t) {
        const float v = rows[r][first + t * g.dw];
        acc = kMax ? (v > acc ? v : acc) : acc + v;
      }
    }
    y_row[o] = kMax ? acc : acc * scale;
  }
}

template <int kStride, bool kMax>
void Interior(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale,
              float* y_row) {
  const __m256i gather_idx =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(g.sw)));
  // Stride 2 reads one float past the last tap of the block.
  const int64_t extra = kStride == 2 ? 1 : 0;
  Row<kMax>(g, rows, nrows, scale, y_row, extra, [&](int64_t o) {
    const int64_t first = o * g.sw - g.pad_left;
    __m256 acc = kMax ? _mm256_set1_ps(-__builtin_inff()) : _mm256_setzero_ps();
    for (int64_t r = 0; r < nrows; ++r) {
      const float* x = rows[r] + first;
      for (int64_t t = 0; t < g.kw; ++t) {
        const __m256 v = Load8<kStride>(x + t * g.dw, gather_idx);
        acc = kMax ? _mm256_max_ps(acc, v) : _mm256_add_ps(acc, v);
      }
    }
    if (!kMax) acc = _mm256_mul_ps(acc, _mm256_set1_ps(scale));
    _mm256_storeu_ps(y_row + o, acc);
  });
}

// Stride 2 over two adjacent columns (2x2 / 2 pooling, the usual downsampling): the 16 floats
// under eight windows are two loads, split into the windows' left and right columns. Nothing past
// the last window's right column is read, so a row's last block of eight stays vectorised.
template <bool kMax>
void InteriorPairs(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale,
                   float* y_row) {
  Row<kMax>(g, rows, nrows, scale, y_row, /*extra=*/0, [&](int64_t o) {
    const int64_t first = o * 2 - g.pad_left;
    __m256 acc = kMax ? _mm256_set1_ps(-__builtin_inff()) : _mm256_setzero_ps();
    for (int64_t r = 0; r < nrows; ++r) {
      const __m256 lo = _mm256_loadu_ps(rows[r] + first), hi = _mm256_loadu_ps(rows[r] + first + 8);
      const __m256 left = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
      const __m256 right = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
      // Lanes in the order (0 1 4 5 2 3 6 7) until the permute below; max and sum don't mind.
      acc = kMax ? _mm256_max_ps(_mm256_max_ps(acc, left), right)
                 : _mm256_add_ps(_mm256_add_ps(acc, left), right);
    }
    acc = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(acc), _MM_SHUFFLE(3, 1, 2, 0)));
    if (!kMax) acc = _mm256_mul_ps(acc, _mm256_set1_ps(scale));
    _mm256_storeu_ps(y_row + o, acc);
  });
}

template <bool kMax>
void InteriorFor(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale,
                 float* y_row) {
  if (g.sw == 2 && g.kw == 2 && g.dw == 1) return InteriorPairs<kMax>(g, rows, nrows, scale, y_row);
  if (g.sw == 1) return Interior<1, kMax>(g, rows, nrows, scale, y_row);
  if (g.sw == 2) return Interior<2, kMax>(g, rows, nrows, scale, y_row);
  return Interior<0, kMax>(g, rows, nrows, scale, y_row);
}

// combined[i] = max over the rows of rows[r][i], for i < n.
void MaxOfRows(const float* const* rows, int64_t nrows, int64_t n, float* combined) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(rows[0] + i);
    for (int64_t r = 1; r < nrows; ++r) acc = _mm256_max_ps(acc, _mm256_loadu_ps(rows[r] + i));
    _mm256_store_ps(combined + i, acc);
  }
  for (; i < n; ++i) {
    float acc = rows[0][i];
    for (int64_t r = 1; r < nrows; ++r) acc = rows[r][i] > acc ? rows[r][i] : acc;
    combined[i] = acc;
  }
}

// Widest input row whose rows a max pool combines first (on the stack).
constexpr int64_t kMaxCombinedWidth = 4096;

}  // namespace

void PoolInteriorAvx2(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale,
                      float* y_row) {
  if (g.max) {
    // Max is separable: the window's rows are combined into one row first, so the column taps
    // (for stride 2, two loads and two shuffles each) run once instead of once per row.
    if (nrows > 1 && g.iw <= kMaxCombinedWidth) {
      alignas(32) float combined[kMaxCombinedWidth];
      MaxOfRows(rows, nrows, g.iw, combined);
      const float* one = combined;
      InteriorFor<true>(g, &one, 1, scale, y_row);
      return;
    }
    InteriorFor<true>(g, rows, nrows, scale, y_row);
  } else {
    InteriorFor<false>(g, rows, nrows, scale, y_row);
  }
}

float ReduceMaxAvx2(const float* x, int64_t n) {
  __m256 a0 = _mm256_set1_ps(-__builtin_inff()), a1 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_max_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_max_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(a0, a1));
  float m = lanes[0];
  for (int j = 1; j < 8; ++j) m = lanes[j] > m ? lanes[j] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

float ReduceSumAvx2(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(a0, a1));
  float s = 0;
  for (int j = 0; j < 8; ++j) s += lanes[j];
  for (; i < n; ++i) s += x[i];
  return s;
}

namespace {

// PoolBlockedAvx2 for BLOCK channels (8 or 16: one or two vectors per tap).
template <bool kMax, int kVectors>
void PoolBlockedRows(const PoolGeometry& g, int64_t oh0, int64_t oh1, const float* x, float* y) {
  constexpr int64_t kBlock = 8 * kVectors;
  const __m256 empty = _mm256_set1_ps(kMax ? -3.40282347e+38f : 0.0f);
  const int64_t row_floats = g.iw * kBlock, tap_step = g.dw * kBlock;
  y += oh0 * g.ow * kBlock;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t h_lo = g.h_lo[oh], h_hi = g.h_hi[oh];
    const int64_t h_count = g.count_include_pad ? g.h_padded[oh] : h_hi - h_lo;
    const float* row0 = x + (oh * g.sh + h_lo * g.dh - g.pad_top) * row_floats;
    const int64_t row_step = g.dh * row_floats;
    for (int64_t ow = 0; ow < g.ow; ++ow, y += kBlock) {
      const int64_t w_lo = g.w_lo[ow], w_hi = g.w_hi[ow];
      if (h_hi == h_lo || w_hi == w_lo) {
        for (int v = 0; v < kVectors; ++v) _mm256_storeu_ps(y + 8 * v, empty);
        continue;
      }
      __m256 acc[kVectors];
      for (int v = 0; v < kVectors; ++v) acc[v] = _mm256_set1_ps(kMax ? -__builtin_inff() : 0.0f);
      const float* col = row0 + (ow * g.sw + w_lo * g.dw - g.pad_left) * kBlock;
      for (int64_t h = h_lo; h < h_hi; ++h, col += row_step) {
        const float* p = col;
        for (int64_t w = w_lo; w < w_hi; ++w, p += tap_step) {
          for (int v = 0; v < kVectors; ++v) {
            const __m256 t = _mm256_loadu_ps(p + 8 * v);
            acc[v] = kMax ? _mm256_max_ps(acc[v], t) : _mm256_add_ps(acc[v], t);
          }
        }
      }
      if (!kMax) {
        const int64_t count = h_count * (g.count_include_pad ? g.w_padded[ow] : w_hi - w_lo);
        const __m256 scale = _mm256_set1_ps(1.0f / float(count));
        for (int v = 0; v < kVectors; ++v) acc[v] = _mm256_mul_ps(acc[v], scale);
      }
      for (int v = 0; v < kVectors; ++v) _mm256_storeu_ps(y + 8 * v, acc[v]);
    }
  }
}

}  // namespace

void PoolBlockedAvx2(const PoolGeometry& g, int64_t block, int64_t oh0, int64_t oh1, const float* x,
                     float* y) {
  if (block == 16) {
    (g.max ? PoolBlockedRows<true, 2> : PoolBlockedRows<false, 2>)(g, oh0, oh1, x, y);
  } else {
    (g.max ? PoolBlockedRows<true, 1> : PoolBlockedRows<false, 1>)(g, oh0, oh1, x, y);
  }
}

void ReduceBlockedAvx2(bool max, const float* x, int64_t pixels, int64_t block, float scale,
                       float* y) {
  for (int64_t k = 0; k < block; k += 8) {
    // Two accumulators per 8 channels: consecutive pixels do not wait on each other.
    __m256 a0 = _mm256_loadu_ps(x + k), a1 = max ? a0 : _mm256_setzero_ps();
    int64_t p = 1;
    for (; p + 1 < pixels; p += 2) {
      const __m256 v0 = _mm256_loadu_ps(x + p * block + k);
      const __m256 v1 = _mm256_loadu_ps(x + (p + 1) * block + k);
      a0 = max ? _mm256_max_ps(a0, v0) : _mm256_add_ps(a0, v0);
      a1 = max ? _mm256_max_ps(a1, v1) : _mm256_add_ps(a1, v1);
    }
    if (p < pixels) {
      const __m256 v = _mm256_loadu_ps(x + p * block + k);
      a0 = max ? _mm256_max_ps(a0, v) : _mm256_add_ps(a0, v);
    }
    const __m256 r =
        max ? _mm256_max_ps(a0, a1) : _mm256_mul_ps(_mm256_add_ps(a0, a1), _mm256_set1_ps(scale));
    _mm256_storeu_ps(y + k, r);
  }
}

}  // namespace refit::cpu::internal
