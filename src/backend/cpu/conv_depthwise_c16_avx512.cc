// AVX-512 depthwise convolution over blocks of 16 channels (compiled with -mavx512f and friends),
// vectorised across the channels as conv_depthwise_c8_avx2.cc is across 8: one 16-float vector
// holds one pixel of the 16 channels, so a tap is one aligned load and one FMA whatever the stride,
// and half as many as with 8 channels per vector. The block is transposed (in 8 x 8 tiles, two per
// 16 channels) into a zero-padded [rows][cols][16] buffer, convolved into a [out_h][out_w][16]
// buffer and transposed back. No standard-library inline code here: see conv_isa.h.
// GCC 12 warns that the AVX-512 intrinsics' own undefined pass-through operands (max, min,
// gather) may be used uninitialized: they are not, and the warning is about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/conv_depthwise_block.inc.h"
#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

constexpr int kLanes = 16;

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

// Pixels x .. x + n - 1 (n <= 8) of 8 channel rows (row j at src + j * ld) into the first or
// second half of n 16-float pixel vectors of dst. Whole tiles pair the 128-bit halves while
// loading; a partial tile reads only its n pixels and writes zeros past them.
inline void LoadTile(const float* src, int64_t ld, int64_t n, float* dst) {
  __m256 t[8];
  if (n == 8) {
    for (int j = 0; j < 4; ++j) {
      const float* lo = src + j * ld;
      const float* hi = src + (j + 4) * ld;
      t[j] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
      t[j + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo + 4)),
                                      _mm_loadu_ps(hi + 4), 1);
    }
  } else {
    const __mmask8 m = __mmask8((1u << n) - 1);
    for (int j = 0; j < 4; ++j) {
      const __m256 lo = _mm256_maskz_loadu_ps(m, src + j * ld);
      const __m256 hi = _mm256_maskz_loadu_ps(m, src + (j + 4) * ld);
      t[j] = _mm256_insertf128_ps(lo, _mm256_castps256_ps128(hi), 1);
      t[j + 4] = _mm256_permute2f128_ps(lo, hi, 0x31);
    }
  }
  __m256 px[8];
  Transpose4Lanes(t[0], t[1], t[2], t[3], px);
  Transpose4Lanes(t[4], t[5], t[6], t[7], px + 4);
  for (int k = 0; k < 8; ++k) _mm256_store_ps(dst + kLanes * k, px[k]);
}

// The reverse: the first or second half of n (<= 8) pixel vectors of src into pixels p .. p + n - 1
// of 8 channel rows (row j at dst + j * ld).
inline void StoreTile(const float* src, float* dst, int64_t ld, int64_t n) {
  __m256 a[4], b[4];
  Transpose4Lanes(_mm256_load_ps(src), _mm256_load_ps(src + kLanes),
                  _mm256_load_ps(src + 2 * kLanes), _mm256_load_ps(src + 3 * kLanes), a);
  Transpose4Lanes(_mm256_load_ps(src + 4 * kLanes), _mm256_load_ps(src + 5 * kLanes),
                  _mm256_load_ps(src + 6 * kLanes), _mm256_load_ps(src + 7 * kLanes), b);
  // a[j]: channel j's pixels 0-3 | channel j + 4's; b[j]: the same for pixels 4-7.
  if (n == 8) {
    for (int j = 0; j < 4; ++j) {
      _mm_storeu_ps(dst + j * ld, _mm256_castps256_ps128(a[j]));
      _mm_storeu_ps(dst + j * ld + 4, _mm256_castps256_ps128(b[j]));
      _mm_storeu_ps(dst + (j + 4) * ld, _mm256_extractf128_ps(a[j], 1));
      _mm_storeu_ps(dst + (j + 4) * ld + 4, _mm256_extractf128_ps(b[j], 1));
    }
    return;
  }
  const __mmask8 m = __mmask8((1u << n) - 1);
  for (int j = 0; j < 4; ++j) {
    const __m256 lo = _mm256_insertf128_ps(a[j], _mm256_castps256_ps128(b[j]), 1);
    const __m256 hi = _mm256_permute2f128_ps(a[j], b[j], 0x31);
    _mm256_mask_storeu_ps(dst + j * ld, m, lo);
    _mm256_mask_storeu_ps(dst + (j + 4) * ld, m, hi);
  }
}

inline void ZeroPixels(float* p, int64_t n) {
  // Opaque to the optimiser, which would otherwise call memset for a pixel or two.
  __m512 zero = _mm512_setzero_ps();
  __asm__("" : "+v"(zero));
  for (int64_t i = 0; i < n; ++i) _mm512_store_ps(p + kLanes * i, zero);
}

// The padded input: pixel (r, c) of the buffer is input (r - pad_top, c - pad_left) of the 16
// channels, zero outside. Padded rows [r0, r0 + rows) into buffer rows [0, rows).
void FillPadded(const DepthwiseBlock& b, int64_t r0, int64_t rows) {
  const int64_t cols = b.pad_cols;
  const int64_t y0 = b.pad_top, y1 = b.pad_top + b.in_h;
  const int64_t x0 = b.pad_left, x1 = b.pad_left + b.in_w < cols ? b.pad_left + b.in_w : cols;
  const int64_t width = x1 - x0;
  for (int64_t r = r0; r < r0 + rows; ++r) {
    float* row = b.padded + (r - r0) * (cols + kDepthwiseBlockRowSlack) * kLanes;
    if (r < y0 || r >= y1 || width <= 0) {
      ZeroPixels(row, cols);
      continue;
    }
    ZeroPixels(row, x0);
    ZeroPixels(row + x1 * kLanes, cols - x1);
    const float* src = b.x + (r - y0) * b.in_w;
    float* dst = row + x0 * kLanes;
    // A partial last tile writes zeros past the input: padding, or the row's slack.
    for (int64_t x = 0; x < width; x += 8) {
      const int64_t n = width - x < 8 ? width - x : 8;
      LoadTile(src + x, b.in_plane, n, dst + kLanes * x);
      LoadTile(src + 8 * b.in_plane + x, b.in_plane, n, dst + kLanes * x + 8);
    }
  }
}

// Outputs [p0, p0 + n) of out_buf (row-major over the plane) back to y[channel][p], in tiles of
// 8 pixels by 8 channels.
void StoreBlock(const DepthwiseBlock& b, int64_t p0, int64_t n) {
  for (int64_t p = 0; p < n; p += 8) {
    const int64_t k = n - p < 8 ? n - p : 8;
    StoreTile(b.out_buf + kLanes * p, b.y + p0 + p, b.out_plane, k);
    StoreTile(b.out_buf + kLanes * p + 8, b.y + 8 * b.out_plane + p0 + p, b.out_plane, k);
  }
}

// The vector of conv_depthwise_block.inc.h: one pixel of 16 channels.
struct Vec16 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T Load(const float* p) { return _mm512_load_ps(p); }
  static void Store(float* p, T v) { _mm512_store_ps(p, v); }
  static T Fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T Max(T a, T b) { return _mm512_max_ps(a, b); }
  static T Min(T a, T b) { return _mm512_min_ps(a, b); }
  static T Zero() { return _mm512_setzero_ps(); }
  static T Set1(float v) { return _mm512_set1_ps(v); }
  static T LoadBias(const float* p) { return _mm512_loadu_ps(p); }
  static T LoadU(const float* p) { return _mm512_loadu_ps(p); }
  static T OpaqueZero() {
    __m512 zero = _mm512_setzero_ps();
    __asm__("" : "+v"(zero));
    return zero;
  }
  static T GatherTaps(const float* p, int taps) {
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_set1_epi32(taps),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return _mm512_i32gather_ps(idx, p, 4);
  }
};

}  // namespace

void DepthwiseBlock16Avx512(const DepthwiseBlock& b) {
  RunDepthwiseBlock<Vec16>(b, FillPadded, StoreBlock);
}

}  // namespace refit::cpu::internal
