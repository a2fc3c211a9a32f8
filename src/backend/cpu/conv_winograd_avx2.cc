// AVX2 transforms of the Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (conv_isa.h), eight
// tiles of one tile row per vector. Each transform is the 1-D one (conv_winograd_transforms.inc.h)
// applied along rows, then along columns: B^T (d B), A^T (M A) and G (g G^T). No standard-library
// inline code here (see conv_isa.h): only internal helpers, intrinsics and memcpy.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_winograd_transforms.inc.h"

namespace refit::cpu::internal {
namespace {

int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes [lo, hi) set.
__m256i LaneRange(int64_t lo, int64_t hi) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i ge = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(int(lo) - 1));
  const __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), idx);
  return _mm256_and_si256(ge, lt);
}

// The AVX2 vector of the shared transforms (conv_winograd_transforms.inc.h).
struct Vec8 {
  using T = __m256;
  static T Add(T a, T b) { return _mm256_add_ps(a, b); }
  static T Sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T Mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T Fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T Fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T Set1(float v) { return _mm256_set1_ps(v); }
};
template <int R>
using F = WinogradF<Vec8, R>;

template <int R>
void Input(const WinogradInput& in) {
  constexpr int N = R + 2, P = N * N;
  // Locals: the stores below could alias `in` as far as the compiler knows.
  const float* const plane = in.plane;
  const int64_t phase_len = in.phase_len, tiles_w = in.tiles_w, nr = in.nr;
  const int64_t row_len = R * phase_len;  // a padded row: its R phases one after another
  const int64_t panel_floats = in.channels * nr, v_stride = in.v_stride;
  float* const v = in.v + in.c * nr;
  float* const stage = in.stage;
  const int64_t stage_len = in.stage_len;
  for (int64_t ty = 0; ty < in.tile_rows; ++ty) {
    const float* rows = plane + R * ty * row_len;
    for (int64_t tx = 0; tx < tiles_w; tx += 8) {
      // d B for each of the tiles' input rows: column R tx + j is phase j % R at tx + j / R.
      __m256 e[N][N];
      for (int r = 0; r < N; ++r) {
        const float* row = rows + r * row_len + tx;
        __m256 d[N];
        for (int j = 0; j < N; ++j) d[j] = _mm256_loadu_ps(row + (j % R) * phase_len + j / R);
        F<R>::B(d, e[r]);
      }
      // B^T (d B): the same down each column.
      __m256 out[P];
      for (int k = 0; k < N; ++k) {
        __m256 col[N], res[N];
        for (int r = 0; r < N; ++r) col[r] = e[r][k];
        F<R>::B(col, res);
        for (int i = 0; i < N; ++i) out[N * i + k] = res[i];
      }
      // Into the staging rows, one per position: a full store, whose lanes past the tile row
      // land on the next row's first tiles (written after, by this same call) or on the padding.
      const int64_t t = ty * tiles_w + tx;
      for (int xi = 0; xi < P; ++xi) _mm256_storeu_ps(stage + xi * stage_len + t, out[xi]);
    }
  }
  // The staging rows to the panels: nr floats at a time (a multiple of 8), full vectors, no
  // masked stores (on AMD CPUs vmaskmovps to memory runs at a fraction of a plain store's rate).
  // Past the last store, up to the last panel's end, zeros: finite padding columns.
  const int64_t tiles = in.tile_rows * tiles_w;
  const int64_t stored = (in.tile_rows - 1) * tiles_w + (tiles_w + 7) / 8 * 8;
  const int64_t panels_end = (tiles + nr - 1) / nr * nr;
  for (int xi = 0; xi < P; ++xi) {
    for (int64_t k = stored; k < panels_end; ++k) stage[xi * stage_len + k] = 0.0f;
    const float* from = stage + xi * stage_len;
    float* to = v + xi * v_stride;
    for (int64_t p0 = 0; p0 < tiles; p0 += nr, from += nr, to += panel_floats) {
      for (int64_t k = 0; k < nr; k += 8) _mm256_storeu_ps(to + k, _mm256_loadu_ps(from + k));
    }
  }
}

// Output row values y[j] (j < R, one tile per lane) interleaved: tile l's R outputs at R l.
void Interleave(const __m256 (&y)[2], __m256 (&out)[2]) {
  const __m256 l = _mm256_unpacklo_ps(y[0], y[1]), h = _mm256_unpackhi_ps(y[0], y[1]);
  out[0] = _mm256_permute2f128_ps(l, h, 0x20);
  out[1] = _mm256_permute2f128_ps(l, h, 0x31);
}
void Interleave(const __m256 (&y)[4], __m256 (&out)[4]) {
  const __m256 t0 = _mm256_unpacklo_ps(y[0], y[1]), t1 = _mm256_unpacklo_ps(y[2], y[3]);
  const __m256 t2 = _mm256_unpackhi_ps(y[0], y[1]), t3 = _mm256_unpackhi_ps(y[2], y[3]);
  const __m256 q0 = _mm256_shuffle_ps(t0, t1, 0x44), q1 = _mm256_shuffle_ps(t0, t1, 0xEE);
  const __m256 q2 = _mm256_shuffle_ps(t2, t3, 0x44), q3 = _mm256_shuffle_ps(t2, t3, 0xEE);
  out[0] = _mm256_permute2f128_ps(q0, q1, 0x20);  // tiles 0, 1
  out[1] = _mm256_permute2f128_ps(q2, q3, 0x20);  // tiles 2, 3
  out[2] = _mm256_permute2f128_ps(q0, q1, 0x31);  // tiles 4, 5
  out[3] = _mm256_permute2f128_ps(q2, q3, 0x31);  // tiles 6, 7
}

template <int R>
void Output(const WinogradOutput& o) {
  constexpr int N = R + 2;
  const __m256 bias = _mm256_set1_ps(o.bias);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 lo = _mm256_set1_ps(o.clip_lo), hi = _mm256_set1_ps(o.clip_hi);
  const ir::ActivationKind kind = o.act;
  auto act = [&](__m256 v) {
    v = _mm256_add_ps(v, bias);
    // max/min return their second operand when either is NaN: NaN propagates, as in
    // ir::ApplyActivation.
    if (kind == ir::ActivationKind::kRelu) return _mm256_max_ps(zero, v);
    if (kind == ir::ActivationKind::kClip) return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    return v;
  };
  const int64_t m_stride = o.m_stride, tiles_w = o.tiles_w, out_w = o.out_w;
  for (int64_t ty = 0; ty < o.tile_rows && R * ty < o.out_rows; ++ty) {
    float* row0 = o.y + R * ty * out_w;
    const int64_t rows = Min(R, o.out_rows - R * ty);
    for (int64_t tx = 0; tx < tiles_w; tx += 8) {
      const float* m = o.m + ty * tiles_w + tx;
      // A^T M, column by column.
      __m256 s[R][N];
      for (int j = 0; j < N; ++j) {
        __m256 col[N], res[R];
        for (int i = 0; i < N; ++i) col[i] = _mm256_loadu_ps(m + (N * i + j) * m_stride);
        F<R>::A(col, res);
        for (int a = 0; a < R; ++a) s[a][j] = res[a];
      }
      // (A^T M) A, row by row; eight tiles make 8 R consecutive outputs of a row.
      const int64_t ox = R * tx;
      const int64_t n = Min(8 * R, out_w - ox);
      for (int a = 0; a < rows; ++a) {
        __m256 y[R], out[R];
        F<R>::A(s[a], y);
        for (int b = 0; b < R; ++b) y[b] = act(y[b]);
        Interleave(y, out);
        float* dst = row0 + a * out_w + ox;
        if (n == 8 * R) {
          for (int b = 0; b < R; ++b) _mm256_storeu_ps(dst + 8 * b, out[b]);
          continue;
        }
        alignas(32) float tmp[8 * R];
        for (int b = 0; b < R; ++b) _mm256_store_ps(tmp + 8 * b, out[b]);
        std::memcpy(dst, tmp, size_t(n) * sizeof(float));
      }
    }
  }
}

// U_xi = G g G^T of eight filters g times s, one filter per lane: g[k] holds tap k of each.
// Returns a mask cleared in the lanes of a non-finite scaled tap (returned, not written through a
// pointer: a __m256 may alias the planes' floats, which would keep it in memory across every
// store).
template <int R>
__attribute__((always_inline)) inline __m256 TransformTaps(__m256 g[9], __m256 s,
                                                           __m256 out[(R + 2) * (R + 2)]) {
  constexpr int N = R + 2;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 max_finite = _mm256_set1_ps(3.40282347e38f);
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int k = 0; k < 9; ++k) {
    g[k] = _mm256_mul_ps(g[k], s);
    finite =
        _mm256_and_ps(finite, _mm256_cmp_ps(_mm256_and_ps(g[k], abs_mask), max_finite, _CMP_LE_OQ));
  }
  // G g (per tap column k), then (G g) G^T (per row i).
  __m256 t[3][N];
  for (int k = 0; k < 3; ++k) F<R>::G(g[k], g[3 + k], g[6 + k], t[k]);
  for (int i = 0; i < N; ++i) F<R>::G(t[0][i], t[1][i], t[2][i], out + N * i);
  return finite;
}

// TransformTaps of eight filters whose 9 taps are at base + idx[l] (lane l), by gathers.
template <int R>
__attribute__((always_inline)) inline __m256 FilterTransform(const float* base, __m256i idx,
                                                             __m256 s,
                                                             __m256 out[(R + 2) * (R + 2)]) {
  __m256 g[9];
  for (int k = 0; k < 9; ++k) g[k] = _mm256_i32gather_ps(base + k, idx, 4);
  return TransformTaps<R>(g, s, out);
}

// TransformTaps of eight filters `filter` floats apart (filter l's 9 taps at base + l * filter,
// idx[l] = l * filter): taps 0-7 by one load per filter and an 8 x 8 transpose in registers,
// tap 8 by one gather (nine gathers cost several times more on AMD cores).
template <int R>
__attribute__((always_inline)) inline __m256 FilterRowsTransform(const float* base, int64_t filter,
                                                                 __m256i idx, __m256 s,
                                                                 __m256 out[(R + 2) * (R + 2)]) {
  __m256 r[8];
  for (int l = 0; l < 8; ++l) r[l] = _mm256_loadu_ps(base + l * filter);
  Transpose8x8(r);
  __m256 g[9];
  for (int k = 0; k < 8; ++k) g[k] = r[k];
  g[8] = _mm256_i32gather_ps(base + 8, idx, 4);
  return TransformTaps<R>(g, s, out);
}

// TransformTaps of the filters of one output channel for input channels c..c+n (n <= 8), all
// scaled by s.
template <int R>
__attribute__((always_inline)) inline __m256 FilterBlock(const float* wo, int64_t c, int64_t n,
                                                         __m256 s, __m256 out[(R + 2) * (R + 2)]) {
  const __m256i stride9 = _mm256_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63);
  if (n == 8) return FilterRowsTransform<R>(wo + c * 9, 9, stride9, s, out);
  // A partial block repeats its last filter.
  const __m256i idx = _mm256_min_epi32(stride9, _mm256_set1_epi32(int(9 * (n - 1))));
  return FilterTransform<R>(wo + c * 9, idx, s, out);
}

// True when writing a block to each of the `planes` planes, `plane` floats apart, would evict
// the block's own lines before the next block fills their other half: the planes start in few L1
// sets (64 sets of 64-byte lines; plane sizes that are multiples of 4 KiB, common in convolution
// layers), and together they are too large to stay in L2, so every line would be fetched twice.
// (Measured on AVX-512 Xeons: staging pays from about 0.5 MiB of planes; below, it costs.)
bool PlanesAlias(int64_t plane, int planes) {
  if (plane * planes * 4 < (int64_t{512} << 10)) return false;
  int count[64] = {};
  for (int64_t xi = 0; xi < planes; ++xi) {
    if (++count[((xi * plane * 4) >> 6) & 63] > 8) return true;
  }
  return false;
}

// Filters per staged run (PackStaged).
constexpr int64_t kChunk = 64;

// Each block of eight filters written to every plane at once.
template <int R>
__m256 PackDirect(const float* w, int64_t c_out, int64_t c_in, const float* row_scale, float* u) {
  constexpr int N = R + 2;
  const int64_t plane = c_out * c_in;
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int64_t o = 0; o < c_out; ++o) {
    const __m256 s = _mm256_set1_ps(row_scale != nullptr ? row_scale[o] : 1.0f);
    const float* wo = w + o * c_in * 9;
    float* uo = u + o * c_in;
    for (int64_t c = 0; c < c_in; c += 8) {
      const int64_t n = Min(8, c_in - c);
      __m256 out[N * N];
      finite = _mm256_and_ps(finite, FilterBlock<R>(wo, c, n, s, out));
      if (n == 8) {
        for (int xi = 0; xi < N * N; ++xi) _mm256_storeu_ps(uo + xi * plane + c, out[xi]);
        continue;
      }
      const __m256i tail = LaneRange(0, n);
      for (int xi = 0; xi < N * N; ++xi) _mm256_maskstore_ps(uo + xi * plane + c, tail, out[xi]);
    }
  }
  return finite;
}

// Chunks of up to kChunk filters of one output channel staged in L1 plane by plane, then each
// plane's run written whole.
template <int R>
__m256 PackStaged(const float* w, int64_t c_out, int64_t c_in, const float* row_scale, float* u) {
  constexpr int N = R + 2;
  const int64_t plane = c_out * c_in;
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  alignas(32) float stage[N * N][kChunk];
  for (int64_t o = 0; o < c_out; ++o) {
    const __m256 s = _mm256_set1_ps(row_scale != nullptr ? row_scale[o] : 1.0f);
    const float* wo = w + o * c_in * 9;
    float* uo = u + o * c_in;
    for (int64_t c0 = 0; c0 < c_in; c0 += kChunk) {
      const int64_t chunk = Min(kChunk, c_in - c0);
      for (int64_t c = c0; c < c0 + chunk; c += 8) {
        __m256 out[N * N];
        finite = _mm256_and_ps(finite, FilterBlock<R>(wo, c, Min(8, c_in - c), s, out));
        for (int xi = 0; xi < N * N; ++xi) _mm256_store_ps(&stage[xi][c - c0], out[xi]);
      }
      // Inline copies: a library call per plane and output channel costs more than the copy.
      const int64_t whole = chunk & ~int64_t{7};
      const __m256i tail = LaneRange(0, chunk - whole);
      for (int xi = 0; xi < N * N; ++xi) {
        float* dst = uo + xi * plane + c0;
        for (int64_t j = 0; j < whole; j += 8) {
          _mm256_storeu_ps(dst + j, _mm256_load_ps(&stage[xi][j]));
        }
        if (whole < chunk)
          _mm256_maskstore_ps(dst + whole, tail, _mm256_load_ps(&stage[xi][whole]));
      }
    }
  }
  return finite;
}

template <int R>
bool Pack(const float* w, int64_t c_out, int64_t c_in, const float* row_scale, float* u) {
  const __m256 finite = PlanesAlias(c_out * c_in, (R + 2) * (R + 2))
                            ? PackStaged<R>(w, c_out, c_in, row_scale, u)
                            : PackDirect<R>(w, c_out, c_in, row_scale, u);
  return _mm256_movemask_ps(finite) == 0xff;
}

// U_xi^T in packed-B panels, each panel row by row: per input channel, the transforms of the
// panel's filters (8 output channels at a time, FilterRowsTransform across them), so every
// position's panel is written front to back, whole rows at once.
template <int R>
bool PackPanels(const float* w, int64_t c_out, int64_t c_in, const float* row_scale, int64_t nr,
                int64_t b_stride, float* u) {
  constexpr int P = (R + 2) * (R + 2);
  const int64_t filter = c_in * 9;  // floats between output channels' filters of one input channel
  const __m256i idx =
      _mm256_mullo_epi32(_mm256_set1_epi32(int(filter)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int64_t o0 = 0; o0 < c_out; o0 += nr) {
    const int64_t cols = Min(nr, c_out - o0);
    float* const panel = u + o0 * c_in;
    for (int64_t c = 0; c < c_in; ++c) {
      float* const row = panel + c * nr;
      for (int64_t j = 0; j < cols; j += 8) {
        const __m256 s =
            row_scale != nullptr ? _mm256_loadu_ps(row_scale + o0 + j) : _mm256_set1_ps(1.0f);
        __m256 out[P];
        finite = _mm256_and_ps(
            finite, FilterRowsTransform<R>(w + (o0 + j) * filter + c * 9, filter, idx, s, out));
        for (int xi = 0; xi < P; ++xi) _mm256_storeu_ps(row + xi * b_stride + j, out[xi]);
      }
    }
  }
  // Zeros past the last output channel: the last panel's columns and each position's padding.
  const int64_t panels = (c_out + nr - 1) / nr, used = panels * c_in * nr;
  const int64_t tail = c_out % nr;
  for (int xi = 0; xi < P; ++xi) {
    float* ux = u + xi * b_stride;
    if (tail != 0) {
      for (int64_t c = 0; c < c_in; ++c) {
        float* row = ux + (panels - 1) * c_in * nr + c * nr;
        for (int64_t j = tail; j < nr; ++j) row[j] = 0.0f;
      }
    }
    for (int64_t k = used; k < b_stride; ++k) ux[k] = 0.0f;
  }
  return _mm256_movemask_ps(finite) == 0xff;
}

}  // namespace

void WinogradInput2Avx2(const WinogradInput& in) { Input<2>(in); }
void WinogradInput4Avx2(const WinogradInput& in) { Input<4>(in); }
void WinogradOutput2Avx2(const WinogradOutput& out) { Output<2>(out); }
void WinogradOutput4Avx2(const WinogradOutput& out) { Output<4>(out); }
bool WinogradPack2Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                       float* u) {
  return Pack<2>(w, c_out, c_in, row_scale, u);
}
bool WinogradPack4Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                       float* u) {
  return Pack<4>(w, c_out, c_in, row_scale, u);
}

bool WinogradPackB2Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                        int64_t nr, int64_t b_stride, float* u) {
  return PackPanels<2>(w, c_out, c_in, row_scale, nr, b_stride, u);
}
bool WinogradPackB4Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                        int64_t nr, int64_t b_stride, float* u) {
  return PackPanels<4>(w, c_out, c_in, row_scale, nr, b_stride, u);
}

}  // namespace refit::cpu::internal
