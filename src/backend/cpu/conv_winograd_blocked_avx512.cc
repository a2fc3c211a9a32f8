// AVX-512 transforms of the channel-blocked Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions
// (conv_isa.h): one tile's 16 channels per vector, so every load and store is one whole aligned
// pixel of an NCHW16c plane or one row of a transform matrix, with no transposes. Each transform
// is the 1-D one (conv_winograd_transforms.inc.h) applied along rows, then along columns. No
// standard-library inline code here (see conv_isa.h): only internal helpers and intrinsics.
// GCC 12 warns that the AVX-512 intrinsics' own undefined pass-through operands (max, min) may be
// used uninitialized: they are not, and the warning is about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_winograd_transforms.inc.h"

namespace refit::cpu::internal {
namespace {

constexpr int64_t kLanes = 16;

struct Vec16 {
  using T = __m512;
  static T Add(T a, T b) { return _mm512_add_ps(a, b); }
  static T Sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T Mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T Fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T Fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static T Set1(float v) { return _mm512_set1_ps(v); }
};
template <int R>
using F = WinogradF<Vec16, R>;

template <int R>
void BlockedInput(const WinogradBlockedInput& in) {
  constexpr int N = R + 2;
  // Locals: the stores below could alias `in` as far as the compiler knows.
  const float* const x = in.x;
  const int64_t in_h = in.in_h, in_w = in.in_w, tiles_w = in.tiles_w;
  const int64_t v_stride = in.v_stride, ldv = in.ldv;
  float* const v = in.v;
  for (int64_t ty = 0; ty < in.tile_rows; ++ty) {
    const int64_t iy0 = R * (in.ty0 + ty) - in.pad_top;
    for (int64_t tx = 0; tx < tiles_w; ++tx) {
      const int64_t ix0 = R * tx - in.pad_left;
      const bool inside = iy0 >= 0 && iy0 + N <= in_h && ix0 >= 0 && ix0 + N <= in_w;
      // d B for each input row of the patch.
      __m512 e[N][N];
      for (int r = 0; r < N; ++r) {
        const float* row = x + ((iy0 + r) * in_w + ix0) * kLanes;
        __m512 d[N];
        if (inside) {
          for (int j = 0; j < N; ++j) d[j] = _mm512_loadu_ps(row + j * kLanes);
        } else {
          const bool row_in = iy0 + r >= 0 && iy0 + r < in_h;
          for (int j = 0; j < N; ++j) {
            const bool in_image = row_in && ix0 + j >= 0 && ix0 + j < in_w;
            d[j] = in_image ? _mm512_loadu_ps(row + j * kLanes) : _mm512_setzero_ps();
          }
        }
        F<R>::B(d, e[r]);
      }
      // B^T (d B): the same down each column, into the positions' matrices.
      float* const vt = v + (ty * tiles_w + tx) * ldv;
      for (int k = 0; k < N; ++k) {
        __m512 col[N], res[N];
        for (int r = 0; r < N; ++r) col[r] = e[r][k];
        F<R>::B(col, res);
        for (int i = 0; i < N; ++i) _mm512_storeu_ps(vt + (N * i + k) * v_stride, res[i]);
      }
    }
  }
}

template <int R>
void BlockedOutput(const WinogradBlockedOutput& o) {
  constexpr int N = R + 2;
  const __m512 bias = o.bias != nullptr ? _mm512_loadu_ps(o.bias) : _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(o.clip_lo), hi = _mm512_set1_ps(o.clip_hi);
  const ir::ActivationKind kind = o.act;
  const float* const z = o.z;
  float* const y = o.y;
  const int64_t m_stride = o.m_stride, ldm = o.ldm, tiles_w = o.tiles_w;
  const int64_t out_h = o.out_h, out_w = o.out_w;
  for (int64_t ty = 0; ty < o.tile_rows; ++ty) {
    const int64_t oy0 = R * (o.ty0 + ty);
    const int64_t rows = out_h - oy0 < R ? out_h - oy0 : R;
    for (int64_t tx = 0; tx < tiles_w; ++tx) {
      const int64_t ox0 = R * tx;
      const int64_t cols = out_w - ox0 < R ? out_w - ox0 : R;
      const float* const mt = o.m + (ty * tiles_w + tx) * ldm;
      // A^T M, column by column.
      __m512 s[R][N];
      for (int j = 0; j < N; ++j) {
        __m512 col[N], res[R];
        for (int i = 0; i < N; ++i) col[i] = _mm512_loadu_ps(mt + (N * i + j) * m_stride);
        F<R>::A(col, res);
        for (int a = 0; a < R; ++a) s[a][j] = res[a];
      }
      // (A^T M) A, row by row, + bias (+ residual), then Relu or Clip: max/min return their
      // second operand when either is NaN, so NaN propagates as in ir::ApplyActivation.
      for (int a = 0; a < rows; ++a) {
        __m512 out[R];
        F<R>::A(s[a], out);
        const int64_t off = ((oy0 + a) * out_w + ox0) * kLanes;
        for (int b = 0; b < cols; ++b) {
          __m512 val = _mm512_add_ps(out[b], bias);
          if (z != nullptr) val = _mm512_add_ps(val, _mm512_loadu_ps(z + off + b * kLanes));
          if (kind == ir::ActivationKind::kRelu) val = _mm512_max_ps(zero, val);
          if (kind == ir::ActivationKind::kClip) val = _mm512_min_ps(hi, _mm512_max_ps(lo, val));
          _mm512_storeu_ps(y + off + b * kLanes, val);
        }
      }
    }
  }
}

}  // namespace

void WinogradBlockedInput2Avx512(const WinogradBlockedInput& in) { BlockedInput<2>(in); }
void WinogradBlockedInput4Avx512(const WinogradBlockedInput& in) { BlockedInput<4>(in); }
void WinogradBlockedOutput2Avx512(const WinogradBlockedOutput& out) { BlockedOutput<2>(out); }
void WinogradBlockedOutput4Avx512(const WinogradBlockedOutput& out) { BlockedOutput<4>(out); }

}  // namespace refit::cpu::internal
