// conv_nchwc's AVX-512 row kernels (conv_isa.h: NchwcConvRow). Compiled with -mavx512f
// -mavx512bw -mavx512dq -mavx512vl -mfma; no standard-library inline code here.
//
// A tile holds NB x OW accumulators, one 16-channel vector per (output block, pixel). Per input
// channel of a tap it loads the NB blocks' 16 weights once and broadcasts each of the OW pixels'
// input once: NB + OW loads for NB * OW FMAs (10 for 24 at 4 x 6). Input channels are innermost,
// so with NCHW16c input a tap's 16 channels of one pixel are one cache line.
#include <immintrin.h>

#include <utility>

#include "backend/cpu/conv_isa.h"

// GCC 12 reports the internal _mm512_undefined_ps() of _mm512_max_ps/_mm512_min_ps and of the
// transposes' unpacks and shuffles as (maybe-)uninitialized (see gemm_kernels_avx512.cc).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace refit::cpu::internal {
namespace {

// The first `n` (<= 16) lanes.
constexpr __mmask16 PixelMask(int n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

// The window rows [k0, k1) of output row/column o whose input index o * stride - pad + k * dilation
// lies in [0, size).
void ValidTaps(int64_t o, int64_t stride, int64_t pad, int64_t dilation, int64_t kernel,
               int64_t size, int64_t* k0, int64_t* k1) {
  const int64_t first = o * stride - pad;
  *k0 = first >= 0 ? 0 : (-first + dilation - 1) / dilation;
  *k1 = first > size - 1 ? 0 : (size - 1 - first) / dilation + 1;
  if (*k1 > kernel) *k1 = kernel;
  if (*k0 > *k1) *k0 = *k1;
}

// Output pixels [ow0, ow0 + OW) of the row for NB blocks, over window rows [kh0, kh1) and columns
// [kw0, kw1) (valid for every pixel of the tile).
template <int ICB, int NB, int OW>
void Tile(const NchwcConvRow& r, int64_t kh0, int64_t kh1, int64_t ow0, int64_t kw0, int64_t kw1) {
  __m512 acc[NB][OW];
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) {
    const __m512 init = r.bias != nullptr ? _mm512_loadu_ps(r.bias + 16 * b) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int j = 0; j < OW; ++j) acc[b][j] = init;
  }
  const int64_t pix = r.stride_w * ICB;  // floats from one output's inputs to the next one's
  const int64_t plane = r.in_h * r.in_w * ICB;
  const int64_t w_tap = ICB * 16;
  const int64_t w_block = r.w_block_stride;
  const int64_t iw0 = ow0 * r.stride_w - r.pad_left;
  for (int64_t cb = 0; cb < r.in_blocks; ++cb) {
    for (int64_t kh = kh0; kh < kh1; ++kh) {
      const int64_t ih = r.oy * r.stride_h - r.pad_top + kh * r.dilation_h;
      const float* w_row = r.w + ((cb * r.kernel_h + kh) * r.kernel_w) * w_tap;
      for (int64_t kw = kw0; kw < kw1; ++kw) {
        // The tile's first pixel's input at this tap: in the input for every kw in [kw0, kw1).
        const float* x = r.in + cb * plane + (ih * r.in_w + iw0 + kw * r.dilation_w) * ICB;
        const float* wk = w_row + kw * w_tap;
#pragma GCC unroll 2
        for (int ic = 0; ic < ICB; ++ic) {
          __m512 wv[NB];
#pragma GCC unroll 4
          for (int b = 0; b < NB; ++b) wv[b] = _mm512_loadu_ps(wk + b * w_block + ic * 16);
#pragma GCC unroll 12
          for (int j = 0; j < OW; ++j) {
            const __m512 xj = _mm512_set1_ps(x[j * pix + ic]);
#pragma GCC unroll 4
            for (int b = 0; b < NB; ++b) acc[b][j] = _mm512_fmadd_ps(wv[b], xj, acc[b][j]);
          }
        }
      }
    }
  }
  if (r.z != nullptr) {
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
      const float* z = r.z + b * r.y_block_stride + ow0 * 16;
#pragma GCC unroll 12
      for (int j = 0; j < OW; ++j)
        acc[b][j] = _mm512_add_ps(acc[b][j], _mm512_loadu_ps(z + 16 * j));
    }
  }
  if (r.act == ir::ActivationKind::kRelu || r.act == ir::ActivationKind::kClip) {
    const bool clip = r.act == ir::ActivationKind::kClip;
    const __m512 lo = _mm512_set1_ps(clip ? r.clip_lo : 0.0f), hi = _mm512_set1_ps(r.clip_hi);
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
#pragma GCC unroll 12
      for (int j = 0; j < OW; ++j) {
        acc[b][j] = _mm512_max_ps(acc[b][j], lo);
        if (clip) acc[b][j] = _mm512_min_ps(acc[b][j], hi);
      }
    }
  }
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) {
    float* y = r.y + b * r.y_block_stride + ow0 * 16;
#pragma GCC unroll 12
    for (int j = 0; j < OW; ++j) _mm512_storeu_ps(y + 16 * j, acc[b][j]);
  }
}

using TileFn = void (*)(const NchwcConvRow&, int64_t, int64_t, int64_t, int64_t, int64_t);

template <int ICB, int NB, int... W>
constexpr TileFn kTiles[] = {Tile<ICB, NB, W + 1>...};

// Tiles of 1..OW pixels for NB blocks.
template <int ICB, int NB, int OW, int... W>
const TileFn* TilesOf(std::integer_sequence<int, W...>) {
  return kTiles<ICB, NB, W...>;
}

template <int ICB, int NB, int OW>
void RowOf(const NchwcConvRow& r) {
  const TileFn* tiles = TilesOf<ICB, NB, OW>(std::make_integer_sequence<int, OW>());
  int64_t kh0 = 0, kh1 = 0;
  ValidTaps(r.oy, r.stride_h, r.pad_top, r.dilation_h, r.kernel_h, r.in_h, &kh0, &kh1);
  // Interior pixels [lo, hi): every window column inside the input.
  const int64_t span = (r.kernel_w - 1) * r.dilation_w;
  int64_t lo = (r.pad_left + r.stride_w - 1) / r.stride_w;
  const int64_t last = r.in_w - 1 + r.pad_left - span;  // the last interior pixel times stride
  int64_t hi = last < 0 ? 0 : last / r.stride_w + 1;
  if (lo > r.out_w) lo = r.out_w;
  if (hi > r.out_w) hi = r.out_w;
  if (hi < lo) hi = lo;
  const auto border = [&](int64_t ow) {
    int64_t kw0 = 0, kw1 = 0;
    ValidTaps(ow, r.stride_w, r.pad_left, r.dilation_w, r.kernel_w, r.in_w, &kw0, &kw1);
    tiles[0](r, kh0, kh1, ow, kw0, kw1);
  };
  for (int64_t ow = 0; ow < lo; ++ow) border(ow);
  int64_t ow = lo;
  for (; ow + OW <= hi; ow += OW) tiles[OW - 1](r, kh0, kh1, ow, 0, r.kernel_w);
  if (ow < hi) tiles[hi - ow - 1](r, kh0, kh1, ow, 0, r.kernel_w);
  for (ow = hi; ow < r.out_w; ++ow) border(ow);
}

// The row for r.blocks (1..NB) blocks.
template <int ICB, int NB, int OW>
void Row(const NchwcConvRow& r) {
  if constexpr (NB > 1) {
    if (r.blocks < NB) {
      Row<ICB, NB - 1, OW>(r);
      return;
    }
  }
  RowOf<ICB, NB, OW>(r);
}

template <int NB, int OW>
void Dispatch(const NchwcConvRow& r) {
  if (r.in_block == 16) {
    Row<16, NB, OW>(r);
  } else {
    Row<1, NB, OW>(r);
  }
}

}  // namespace

void NchwcConvRow4x6Avx512(const NchwcConvRow& r) { Dispatch<4, 6>(r); }

namespace {

// out[j] = column j of the 16 x 16 matrix whose rows are r[0..15]: unpacks and shuffles within
// 128-bit lanes, then across lanes.
void Transpose16x16(const __m512 (&r)[16], __m512 (&out)[16]) {
  // u[4 q + j]'s lane L holds column 4 L + j of rows 4 q .. 4 q + 3.
  __m512 u[16];
  for (int q = 0; q < 4; ++q) {
    const __m512 lo01 = _mm512_unpacklo_ps(r[4 * q], r[4 * q + 1]);
    const __m512 hi01 = _mm512_unpackhi_ps(r[4 * q], r[4 * q + 1]);
    const __m512 lo23 = _mm512_unpacklo_ps(r[4 * q + 2], r[4 * q + 3]);
    const __m512 hi23 = _mm512_unpackhi_ps(r[4 * q + 2], r[4 * q + 3]);
    u[4 * q + 0] = _mm512_shuffle_ps(lo01, lo23, 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
  }
  // Column 4 L + j is lane L of u[j], u[4 + j], u[8 + j], u[12 + j].
  for (int j = 0; j < 4; ++j) {
    const __m512 x_lo = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
    const __m512 x_hi = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 y_lo = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 y_hi = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    out[j] = _mm512_shuffle_f32x4(x_lo, y_lo, 0x88);
    out[4 + j] = _mm512_shuffle_f32x4(x_hi, y_hi, 0x88);
    out[8 + j] = _mm512_shuffle_f32x4(x_lo, y_lo, 0xDD);
    out[12 + j] = _mm512_shuffle_f32x4(x_hi, y_hi, 0xDD);
  }
}

}  // namespace

void NchwcRowToPlanesAvx512(const float* row, int64_t blocks, int64_t out_w, float* y,
                            int64_t out_plane) {
  for (int64_t b = 0; b < blocks; ++b) {
    const float* src = row + b * 16 * out_w;
    float* dst = y + 16 * b * out_plane;
    for (int64_t x = 0; x < out_w; x += 16) {
      const int count = int(out_w - x < 16 ? out_w - x : 16);
      __m512 r[16], c[16];  // r[p]: pixel x + p's channels (zeros past the row); c[k]: channel k's
      for (int p = 0; p < 16; ++p) {
        r[p] = p < count ? _mm512_loadu_ps(src + 16 * (x + p)) : _mm512_setzero_ps();
      }
      Transpose16x16(r, c);
      const __mmask16 m = PixelMask(count);
      for (int k = 0; k < 16; ++k) _mm512_mask_storeu_ps(dst + k * out_plane + x, m, c[k]);
    }
  }
}

void NchwcPlanesToRowAvx512(const float* y, int64_t blocks, int64_t out_w, int64_t out_plane,
                            int64_t step, float* row) {
  // Step 2 (a stride-2 pointwise layer's input columns): two loads of 32 columns, the even ones
  // picked by one two-source permute; other steps gather.
  const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i lanes =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(int(step)));
  for (int64_t b = 0; b < blocks; ++b) {
    const float* src = y + 16 * b * out_plane;
    float* dst = row + b * 16 * out_w;
    for (int64_t x = 0; x < out_w; x += 16) {
      const int count = int(out_w - x < 16 ? out_w - x : 16);
      const __mmask16 m = PixelMask(count);
      __m512 c[16], r[16];  // c[k]: channel k's pixels (zeros past the row); r[p]: pixel p's
      if (step == 1) {
        for (int k = 0; k < 16; ++k) c[k] = _mm512_maskz_loadu_ps(m, src + k * out_plane + x);
      } else if (step == 2) {
        // Columns 2 x .. 2 (x + count) - 2: 2 count - 1 floats.
        const int span = 2 * count - 1;
        const __mmask16 m0 = PixelMask(span < 16 ? span : 16);
        const __mmask16 m1 = PixelMask(span > 16 ? span - 16 : 0);
        for (int k = 0; k < 16; ++k) {
          const float* s = src + k * out_plane + 2 * x;
          c[k] = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, s), evens,
                                        _mm512_maskz_loadu_ps(m1, s + 16));
        }
      } else {
        for (int k = 0; k < 16; ++k) {
          c[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, lanes,
                                          src + k * out_plane + step * x, 4);
        }
      }
      Transpose16x16(c, r);
      for (int p = 0; p < count; ++p) _mm512_storeu_ps(dst + 16 * (x + p), r[p]);
    }
  }
}

void NchwcConvRow2x12Avx512(const NchwcConvRow& r) { Dispatch<2, 12>(r); }

}  // namespace refit::cpu::internal
