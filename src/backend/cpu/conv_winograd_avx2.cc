// AVX2 input and output transforms of the Winograd F(2x2, 3x3) convolution (conv_isa.h), eight
// tiles of one tile row per vector.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

// Lanes [lo, hi) set.
__m256i LaneRange(int64_t lo, int64_t hi) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i ge = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(int(lo) - 1));
  const __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), idx);
  return _mm256_and_si256(ge, lt);
}

}  // namespace

void WinogradInputAvx2(const WinogradInput& in) {
  // Locals: the stores below could alias `in` as far as the compiler knows.
  const float* const plane = in.plane;
  const int64_t phase_len = in.phase_len, tiles_w = in.tiles_w, nr = in.nr;
  const int64_t row_len = 2 * phase_len;  // a padded row: even columns, then odd ones
  const int64_t panel_floats = in.channels * nr, v_stride = in.v_stride;
  float* const v = in.v + in.c * nr;
  for (int64_t ty = 0; ty < in.tile_rows; ++ty) {
    const float* rows = plane + 2 * ty * row_len;
    for (int64_t tx = 0; tx < tiles_w; tx += 8) {
      // d B for each of the tile's four input rows: columns 2tx .. 2tx + 3 are the even phase at
      // tx, the odd one at tx, the even one at tx + 1 and the odd one at tx + 1.
      __m256 e[4][4];
      for (int r = 0; r < 4; ++r) {
        const float* row = rows + r * row_len + tx;
        const __m256 d0 = _mm256_loadu_ps(row);
        const __m256 d1 = _mm256_loadu_ps(row + phase_len);
        const __m256 d2 = _mm256_loadu_ps(row + 1);
        const __m256 d3 = _mm256_loadu_ps(row + phase_len + 1);
        e[r][0] = _mm256_sub_ps(d0, d2);
        e[r][1] = _mm256_add_ps(d1, d2);
        e[r][2] = _mm256_sub_ps(d2, d1);
        e[r][3] = _mm256_sub_ps(d1, d3);
      }
      // B^T (d B): the same combination down the rows.
      __m256 out[16];
      for (int j = 0; j < 4; ++j) {
        out[0 + j] = _mm256_sub_ps(e[0][j], e[2][j]);
        out[4 + j] = _mm256_add_ps(e[1][j], e[2][j]);
        out[8 + j] = _mm256_sub_ps(e[2][j], e[1][j]);
        out[12 + j] = _mm256_sub_ps(e[1][j], e[3][j]);
      }
      // Where the eight tiles' columns go: one panel, or the end of one and the start of the next.
      const int64_t t = ty * tiles_w + tx;
      const int64_t lanes = std::min<int64_t>(8, tiles_w - tx);
      const int64_t off = t % nr;
      const int64_t first = std::min(lanes, nr - off);
      float* dst = v + t / nr * panel_floats + off;
      if (lanes == 8 && first == 8) {
        for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(dst + xi * v_stride, out[xi]);
        continue;
      }
      const __m256i m1 = LaneRange(0, first), m2 = LaneRange(first, lanes);
      float* next = dst - off + panel_floats - first;  // lane `first` lands on the next panel's 0
      for (int xi = 0; xi < 16; ++xi) {
        _mm256_maskstore_ps(dst + xi * v_stride, m1, out[xi]);
        if (lanes > first) _mm256_maskstore_ps(next + xi * v_stride, m2, out[xi]);
      }
    }
  }
}

void WinogradOutputAvx2(const WinogradOutput& o) {
  const __m256 bias = _mm256_set1_ps(o.bias);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 lo = _mm256_set1_ps(o.clip_lo), hi = _mm256_set1_ps(o.clip_hi);
  auto act = [&](__m256 v) {
    v = _mm256_add_ps(v, bias);
    // max/min return their second operand when either is NaN: NaN propagates, as in
    // ir::ApplyActivation.
    if (o.act == ir::ActivationKind::kRelu) return _mm256_max_ps(zero, v);
    if (o.act == ir::ActivationKind::kClip) return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    return v;
  };
  for (int64_t ty = 0; ty < o.tile_rows && 2 * ty < o.out_rows; ++ty) {
    float* row0 = o.y + 2 * ty * o.out_w;
    const bool two = 2 * ty + 1 < o.out_rows;
    for (int64_t tx = 0; tx < o.tiles_w; tx += 8) {
      const float* m = o.m + ty * o.tiles_w + tx;
      // A^T M: row 0 is m0 + m1 + m2, row 1 is m1 - m2 - m3, per column j.
      __m256 s0[4], s1[4];
      for (int j = 0; j < 4; ++j) {
        const __m256 m0 = _mm256_loadu_ps(m + (0 + j) * o.m_stride);
        const __m256 m1 = _mm256_loadu_ps(m + (4 + j) * o.m_stride);
        const __m256 m2 = _mm256_loadu_ps(m + (8 + j) * o.m_stride);
        const __m256 m3 = _mm256_loadu_ps(m + (12 + j) * o.m_stride);
        s0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
      }
      // (A^T M) A, the same down the columns.
      const __m256 y00 = act(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]));
      const __m256 y01 = act(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]));
      const __m256 y10 = act(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]));
      const __m256 y11 = act(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]));
      // Interleave each tile's two columns: eight tiles make 16 consecutive outputs of a row.
      const int64_t ox = 2 * tx;
      const int64_t n = std::min<int64_t>(16, o.out_w - ox);
      auto put = [&](float* dst, __m256 a, __m256 b) {
        const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
        const __m256 first = _mm256_permute2f128_ps(l, h, 0x20);
        const __m256 second = _mm256_permute2f128_ps(l, h, 0x31);
        if (n == 16) {
          _mm256_storeu_ps(dst, first);
          _mm256_storeu_ps(dst + 8, second);
          return;
        }
        alignas(32) float tmp[16];
        _mm256_store_ps(tmp, first);
        _mm256_store_ps(tmp + 8, second);
        std::memcpy(dst, tmp, size_t(n) * sizeof(float));
      };
      put(row0 + ox, y00, y01);
      if (two) put(row0 + o.out_w + ox, y10, y11);
    }
  }
}

}  // namespace refit::cpu::internal
