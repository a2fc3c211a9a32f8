// AVX2 + FMA depthwise convolution over blocks of 8 channels (compiled with -mavx2 -mfma),
// vectorised across the channels: one vector holds one pixel of the 8 channels, so a tap is one
// aligned load and one FMA whatever the stride, and nothing is paid per channel. The block is
// transposed into a zero-padded [rows][cols][8] buffer, convolved into a [out_h][out_w][8] buffer
// and transposed back. No standard-library inline code here: see conv_isa.h.
#include <immintrin.h>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/conv_depthwise_block.inc.h"
#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

// In-lane 4x4 transposes of a, b, c, d (each 128-bit lane on its own): lane L of out[k] holds
// lane L's element k of a, b, c, d.
inline void Transpose4Lanes(__m256 a, __m256 b, __m256 c, __m256 d, __m256* out) {
  const __m256 u0 = _mm256_unpacklo_ps(a, b), u1 = _mm256_unpackhi_ps(a, b);
  const __m256 u2 = _mm256_unpacklo_ps(c, d), u3 = _mm256_unpackhi_ps(c, d);
  out[0] = _mm256_shuffle_ps(u0, u2, 0x44);
  out[1] = _mm256_shuffle_ps(u0, u2, 0xEE);
  out[2] = _mm256_shuffle_ps(u1, u3, 0x44);
  out[3] = _mm256_shuffle_ps(u1, u3, 0xEE);
}

// Pixels x .. x + 7 of 8 channel rows (row j at src + j * ld) into 8 pixel vectors of dst (one
// per 8 floats). The 128-bit halves are paired while loading (inserts from memory use no shuffle
// port), leaving 16 shuffles instead of a full 8x8 transpose's 24.
inline void LoadTransposed(const float* src, int64_t ld, float* dst) {
  __m256 t[8];
  for (int j = 0; j < 4; ++j) {
    const float* lo = src + j * ld;
    const float* hi = src + (j + 4) * ld;
    t[j] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
    t[j + 4] =
        _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo + 4)), _mm_loadu_ps(hi + 4), 1);
  }
  __m256 px[8];
  Transpose4Lanes(t[0], t[1], t[2], t[3], px);
  Transpose4Lanes(t[4], t[5], t[6], t[7], px + 4);
  for (int k = 0; k < 8; ++k) _mm256_store_ps(dst + 8 * k, px[k]);
}

// The reverse: 8 pixel vectors of src into pixels p .. p + 7 of 8 channel rows (row j at
// dst + j * ld), stored in 128-bit halves.
inline void StoreTransposed(const float* src, float* dst, int64_t ld) {
  __m256 a[4], b[4];
  Transpose4Lanes(_mm256_load_ps(src), _mm256_load_ps(src + 8), _mm256_load_ps(src + 16),
                  _mm256_load_ps(src + 24), a);
  Transpose4Lanes(_mm256_load_ps(src + 32), _mm256_load_ps(src + 40), _mm256_load_ps(src + 48),
                  _mm256_load_ps(src + 56), b);
  // a[j]: channel j's pixels 0-3 | channel j + 4's; b[j]: the same for pixels 4-7.
  for (int j = 0; j < 4; ++j) {
    _mm_storeu_ps(dst + j * ld, _mm256_castps256_ps128(a[j]));
    _mm_storeu_ps(dst + j * ld + 4, _mm256_castps256_ps128(b[j]));
    _mm_storeu_ps(dst + (j + 4) * ld, _mm256_extractf128_ps(a[j], 1));
    _mm_storeu_ps(dst + (j + 4) * ld + 4, _mm256_extractf128_ps(b[j], 1));
  }
}

inline void ZeroPixels(float* p, int64_t n) {
  // Opaque to the optimiser, which would otherwise call memset for a pixel or two.
  __m256 zero = _mm256_setzero_ps();
  __asm__("" : "+x"(zero));
  for (int64_t i = 0; i < n; ++i) _mm256_store_ps(p + 8 * i, zero);
}

// The padded input: pixel (r, c) of the buffer is input (r - pad_top, c - pad_left) of the 8
// channels, zero outside. Only the rows and columns the windows reach are written.
// Padded rows [r0, r0 + rows) into buffer rows [0, rows).
void FillPadded(const DepthwiseBlock& b, int64_t r0, int64_t rows) {
  const int64_t cols = b.pad_cols;
  // The input rows and columns inside the buffer.
  const int64_t y0 = b.pad_top, y1 = b.pad_top + b.in_h;
  const int64_t x0 = b.pad_left, x1 = b.pad_left + b.in_w < cols ? b.pad_left + b.in_w : cols;
  const int64_t width = x1 - x0;
  for (int64_t r = r0; r < r0 + rows; ++r) {
    float* row = b.padded + (r - r0) * (cols + kDepthwiseBlockRowSlack) * 8;
    if (r < y0 || r >= y1 || width <= 0) {
      ZeroPixels(row, cols);
      continue;
    }
    ZeroPixels(row, x0);
    ZeroPixels(row + x1 * 8, cols - x1);
    const float* src = b.x + (r - y0) * b.in_w;
    float* dst = row + x0 * 8;
    int64_t x = 0;
    __m256 v[8];
    for (; x + 8 <= width; x += 8) LoadTransposed(src + x, b.in_plane, dst + 8 * x);
    if (x < width) {
      const int64_t n = width - x;
      const __m256i m = FirstLanes(n);
      for (int j = 0; j < 8; ++j) v[j] = _mm256_maskload_ps(src + j * b.in_plane + x, m);
      Transpose8x8(v);
      // Pixels past the input are zeros (the masked lanes): padding, or the row's slack.
      for (int j = 0; j < 8; ++j) _mm256_store_ps(dst + 8 * (x + j), v[j]);
    }
  }
}

// Output pixels [p0, p0 + n) (row-major over the plane) from out_buf[p - p0][8] into
// y[channel][p].
void StoreBlock(const DepthwiseBlock& b, int64_t p0, int64_t n) {
  __m256 v[8];
  int64_t p = 0;
  float* y = b.y + p0;
  for (; p + 8 <= n; p += 8) StoreTransposed(b.out_buf + 8 * p, y + p, b.out_plane);
  if (p < n) {
    const int64_t rest = n - p;
    for (int j = 0; j < 8; ++j) {
      v[j] = j < rest ? _mm256_load_ps(b.out_buf + 8 * (p + j)) : _mm256_setzero_ps();
    }
    Transpose8x8(v);
    const __m256i m = FirstLanes(rest);
    for (int j = 0; j < 8; ++j) _mm256_maskstore_ps(y + j * b.out_plane + p, m, v[j]);
  }
}

// The vector of conv_depthwise_block.inc.h: one pixel of 8 channels.
struct Vec8 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T Load(const float* p) { return _mm256_load_ps(p); }
  static void Store(float* p, T v) { _mm256_store_ps(p, v); }
  static T Fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T Max(T a, T b) { return _mm256_max_ps(a, b); }
  static T Min(T a, T b) { return _mm256_min_ps(a, b); }
  static T Zero() { return _mm256_setzero_ps(); }
  static T Set1(float v) { return _mm256_set1_ps(v); }
  static T LoadBias(const float* p) { return _mm256_loadu_ps(p); }
  static T LoadU(const float* p) { return _mm256_loadu_ps(p); }
  static T OpaqueZero() {
    __m256 zero = _mm256_setzero_ps();
    __asm__("" : "+x"(zero));
    return zero;
  }
  static T GatherTaps(const float* p, int taps) {
    const __m256i idx =
        _mm256_mullo_epi32(_mm256_set1_epi32(taps), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_i32gather_ps(p, idx, 4);
  }
};

}  // namespace

void DepthwiseBlock8Avx2(const DepthwiseBlock& b) {
  RunDepthwiseBlock<Vec8>(b, FillPadded, StoreBlock);
}

}  // namespace refit::cpu::internal
