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

namespace {

// G g G^T for one filter per lane: g[k] holds tap k (row-major 3x3) of eight filters.
void FilterTransform(const __m256 g[9], __m256 u[16]) {
  const __m256 half = _mm256_set1_ps(0.5f);
  // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2, per column k.
  __m256 t[4][3];
  for (int k = 0; k < 3; ++k) {
    const __m256 outer = _mm256_add_ps(g[k], g[6 + k]);
    t[0][k] = g[k];
    t[1][k] = _mm256_mul_ps(half, _mm256_add_ps(outer, g[3 + k]));
    t[2][k] = _mm256_mul_ps(half, _mm256_sub_ps(outer, g[3 + k]));
    t[3][k] = g[6 + k];
  }
  // (G g) G^T: the same along each row.
  for (int i = 0; i < 4; ++i) {
    const __m256 outer = _mm256_add_ps(t[i][0], t[i][2]);
    u[4 * i + 0] = t[i][0];
    u[4 * i + 1] = _mm256_mul_ps(half, _mm256_add_ps(outer, t[i][1]));
    u[4 * i + 2] = _mm256_mul_ps(half, _mm256_sub_ps(outer, t[i][1]));
    u[4 * i + 3] = t[i][2];
  }
}

}  // namespace

bool WinogradPackAvx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                      float* u) {
  const int64_t plane = c_out * c_in;
  const __m256i stride9 = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 max_finite = _mm256_set1_ps(3.40282347e38f);
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int64_t o = 0; o < c_out; ++o) {
    const __m256 s = _mm256_set1_ps(row_scale != nullptr ? row_scale[o] : 1.0f);
    const float* wo = w + o * c_in * 9;
    float* uo = u + o * c_in;
    for (int64_t c = 0; c < c_in; c += 8) {
      // Eight filters' taps, one per lane (a partial block: the last filter repeated).
      const int64_t n = std::min<int64_t>(8, c_in - c);
      const __m256i idx =
          n == 8 ? stride9 : _mm256_min_epi32(stride9, _mm256_set1_epi32(int(9 * (n - 1))));
      __m256 g[9];
      for (int k = 0; k < 9; ++k) {
        g[k] = _mm256_mul_ps(_mm256_i32gather_ps(wo + c * 9 + k, idx, 4), s);
        finite = _mm256_and_ps(
            finite, _mm256_cmp_ps(_mm256_and_ps(g[k], abs_mask), max_finite, _CMP_LE_OQ));
      }
      __m256 out[16];
      FilterTransform(g, out);
      if (n == 8) {
        for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(uo + xi * plane + c, out[xi]);
        continue;
      }
      alignas(32) float tmp[8];
      for (int xi = 0; xi < 16; ++xi) {
        _mm256_store_ps(tmp, out[xi]);
        std::memcpy(uo + xi * plane + c, tmp, size_t(n) * sizeof(float));
      }
    }
  }
  return _mm256_movemask_ps(finite) == 0xff;
}

}  // namespace refit::cpu::internal
