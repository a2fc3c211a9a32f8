// Internal to conv_depthwise_c8_avx2.cc and conv_depthwise_c16_avx512.cc, each of which includes
// it once, compiled for its own ISA: the convolution of one zero-padded strip of a channel block,
// written once over a vector type. V gives the vector: `using T` (one pixel of kLanes channels),
// kLanes, Load / Store (aligned), Fmadd(a, b, c) = a * b + c, Max, Min (returning their second
// operand when either is NaN, so NaN propagates), Zero, Set1, LoadBias (kLanes floats, unaligned)
// GatherTaps (tap t of each of kLanes filters `taps` floats apart), LoadU (unaligned) and
// OpaqueZero (a zero vector the optimiser cannot turn a loop of stores of into a memset call).
// Everything is in an anonymous namespace: each ISA's file has its own copy, never merged with the
// other's.
#pragma once

#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

// N consecutive output pixels of a row into out (kLanes floats per pixel). kStride: the horizontal
// stride when fixed at compile time (1, 2), so each load's address is the tap's plus a constant;
// 0: b.stride_w.
template <typename V, int kStride, int N>
inline void Pixels(const DepthwiseBlock& b, const typename V::T* w, int taps, const float* in,
                   float* out, typename V::T bias, typename V::T lo, typename V::T hi) {
  typename V::T acc[N];
  for (int i = 0; i < N; ++i) acc[i] = bias;
  const int64_t step = (kStride > 0 ? kStride : b.stride_w) * V::kLanes;
  for (int t = 0; t < taps; ++t) {
    const float* s = in + b.tap_offsets[t];
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) acc[i] = V::Fmadd(w[t], V::Load(s + i * step), acc[i]);
  }
  for (int i = 0; i < N; ++i) {
    typename V::T y = acc[i];
    if (b.act == ir::ActivationKind::kRelu) y = V::Max(V::Zero(), y);
    if (b.act == ir::ActivationKind::kClip) y = V::Min(hi, V::Max(lo, y));
    V::Store(out + V::kLanes * i, y);
  }
}

// One output row: up to 8 pixels at once (independent FMA chains hide the FMA latency).
template <typename V, int kStride>
void Row(const DepthwiseBlock& b, const typename V::T* w, int taps, const float* in, float* out,
         typename V::T bias, typename V::T lo, typename V::T hi) {
  const int64_t col_step = b.stride_w * V::kLanes;
  for (int64_t ox = 0; ox < b.out_w; ox += 8) {
    const float* i = in + ox * col_step;
    float* o = out + ox * V::kLanes;
    switch (b.out_w - ox < 8 ? b.out_w - ox : 8) {
      case 1:
        Pixels<V, kStride, 1>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 2:
        Pixels<V, kStride, 2>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 3:
        Pixels<V, kStride, 3>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 4:
        Pixels<V, kStride, 4>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 5:
        Pixels<V, kStride, 5>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 6:
        Pixels<V, kStride, 6>(b, w, taps, i, o, bias, lo, hi);
        break;
      case 7:
        Pixels<V, kStride, 7>(b, w, taps, i, o, bias, lo, hi);
        break;
      default:
        Pixels<V, kStride, 8>(b, w, taps, i, o, bias, lo, hi);
        break;
    }
  }
}

// Padded rows [r0, r0 + rows) into buffer rows [0, rows) from a channel-blocked input
// (b.x_blocked): each input row is already kLanes floats per pixel, so a row is one straight copy.
template <typename V>
void FillPaddedFromBlocked(const DepthwiseBlock& b, int64_t r0, int64_t rows) {
  const int64_t cols = b.pad_cols;
  const int64_t y0 = b.pad_top, y1 = b.pad_top + b.in_h;
  const int64_t x0 = b.pad_left, x1 = b.pad_left + b.in_w < cols ? b.pad_left + b.in_w : cols;
  const typename V::T zero = V::OpaqueZero();
  for (int64_t r = r0; r < r0 + rows; ++r) {
    float* row = b.padded + (r - r0) * (cols + kDepthwiseBlockRowSlack) * V::kLanes;
    if (r < y0 || r >= y1 || x1 <= x0) {
      for (int64_t c = 0; c < cols; ++c) V::Store(row + c * V::kLanes, zero);
      continue;
    }
    for (int64_t c = 0; c < x0; ++c) V::Store(row + c * V::kLanes, zero);
    for (int64_t c = x1; c < cols; ++c) V::Store(row + c * V::kLanes, zero);
    const float* src = b.x + (r - y0) * b.in_w * V::kLanes;
    for (int64_t c = x0; c < x1; ++c) {
      V::Store(row + c * V::kLanes, V::LoadU(src + (c - x0) * V::kLanes));
    }
  }
}

// The whole block, in strips of output rows whose padded input and outputs stay in L1:
// fill_padded(b, r0, rows) writes padded rows [r0, r0 + rows) into buffer rows [0, rows);
// store_back(b, p0, n) moves outputs [p0, p0 + n) of out_buf (row-major over the plane) to y.
template <typename V, typename Fill, typename StoreBack>
void RunDepthwiseBlock(const DepthwiseBlock& b, Fill fill_padded, StoreBack store_back) {
  // Weights: one vector per tap holding the block's channels' values.
  const int taps = int(b.kernel_h * b.kernel_w);
  typename V::T w[kMaxDepthwiseBlockTaps];
  for (int t = 0; t < taps; ++t) w[t] = V::GatherTaps(b.weights + t, taps);
  const typename V::T bias = b.bias != nullptr ? V::LoadBias(b.bias) : V::Zero();
  const typename V::T lo = V::Set1(b.clip_lo), hi = V::Set1(b.clip_hi);
  const int64_t row_step = b.stride_h * (b.pad_cols + kDepthwiseBlockRowSlack) * V::kLanes;
  const int64_t row_end = b.row_end > 0 ? b.row_end : b.out_h;
  for (int64_t oy0 = b.row_begin; oy0 < row_end; oy0 += b.strip_rows) {
    const int64_t rows = row_end - oy0 < b.strip_rows ? row_end - oy0 : b.strip_rows;
    const int64_t padded_rows = (rows - 1) * b.stride_h + b.window_rows;
    if (b.x_blocked) {
      FillPaddedFromBlocked<V>(b, oy0 * b.stride_h, padded_rows);
    } else {
      fill_padded(b, oy0 * b.stride_h, padded_rows);
    }
    // A blocked output is the strip's own rows of y: convolved in place, nothing to store back.
    float* strip_out = b.y_blocked ? b.y + oy0 * b.out_w * V::kLanes : b.out_buf;
    for (int64_t oy = 0; oy < rows; ++oy) {
      const float* in = b.padded + oy * row_step;
      float* out = strip_out + oy * b.out_w * V::kLanes;
      if (b.stride_w == 1) {
        Row<V, 1>(b, w, taps, in, out, bias, lo, hi);
      } else if (b.stride_w == 2) {
        Row<V, 2>(b, w, taps, in, out, bias, lo, hi);
      } else {
        Row<V, 0>(b, w, taps, in, out, bias, lo, hi);
      }
    }
    if (!b.y_blocked) store_back(b, oy0 * b.out_w, rows * b.out_w);
  }
}

}  // namespace
}  // namespace refit::cpu::internal
