// AVX2 + FMA depthwise convolution kernels (compiled with -mavx2 -mfma), vectorised along the
// output width. No standard-library inline code here: see conv_isa.h.
//
// The input plane is a phase plane (conv_isa.h): the inputs of outputs ox .. ox + 7 for one tap
// sit at consecutive floats whatever the stride and dilation, so each tap is one unaligned load.
#include <immintrin.h>

#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

constexpr int kMaxTaps = 128;

// R output rows of NV vectors each: R * NV independent FMA chains hide the FMA latency even on
// the narrow planes of a network's last stages (7x7, 14x14: one or two vectors a row). The last
// vector of a row is stored through `tail` when the row ends inside it (the prepared plane is wide
// enough to read a whole last vector) and a whole vector would pass the end of the plane's
// outputs; otherwise whole, since masked stores are slow on some x86 cores: the spill lands on the
// next rows' first outputs, written after it by the same call. (Only the plane's own outputs: past
// its end lies the next channel's, which another thread may have written already.) `wv`: the taps'
// weights, broadcast once per plane when the tap count is fixed at compile time (kTaps 9, 25); else
// broadcast per use.
template <int kTaps, int R, int NV>
inline void Rows(const DepthwisePlane& p, int taps, const __m256* wv, const float* base,
                 int64_t row_step, int64_t ox, float* out, bool partial, __m256i tail, __m256 bias,
                 __m256 lo, __m256 hi) {
  __m256 acc[R * NV];
  for (int i = 0; i < R * NV; ++i) acc[i] = bias;
  const int n = kTaps > 0 ? kTaps : taps;
#pragma GCC unroll 25
  for (int t = 0; t < n; ++t) {
    const __m256 w = kTaps > 0 ? wv[t] : _mm256_broadcast_ss(p.weights + t);
    const float* src = base + p.taps[t] + ox;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        acc[r * NV + v] =
            _mm256_fmadd_ps(w, _mm256_loadu_ps(src + r * row_step + 8 * v), acc[r * NV + v]);
      }
    }
  }
  const int64_t plane_floats = p.out_h * p.out_w;
  for (int r = 0; r < R; ++r) {
    float* o = out + r * p.out_w + ox;
    for (int v = 0; v < NV; ++v) {
      __m256 y = acc[r * NV + v];
      // max/min return their second operand when either is NaN, so NaN propagates.
      if (p.act == ir::ActivationKind::kRelu) y = _mm256_max_ps(_mm256_setzero_ps(), y);
      if (p.act == ir::ActivationKind::kClip) y = _mm256_min_ps(hi, _mm256_max_ps(lo, y));
      if (partial && v == NV - 1 && (o - p.out) + 8 * (v + 1) > plane_floats) {
        _mm256_maskstore_ps(o + 8 * v, tail, y);
      } else {
        _mm256_storeu_ps(o + 8 * v, y);
      }
    }
  }
}

template <int kTaps>
void Plane(const DepthwisePlane& p) {
  const int taps = int(p.kernel_h * p.kernel_w);
  __m256 wv[kTaps > 0 ? kTaps : 1];
  if constexpr (kTaps > 0) {
    for (int t = 0; t < kTaps; ++t) wv[t] = _mm256_broadcast_ss(p.weights + t);
  }
  const int64_t row_step = p.stride_h * p.stride_w * p.phase_len;
  const __m256 bias = _mm256_set1_ps(p.bias);
  const __m256 lo = _mm256_set1_ps(p.clip_lo), hi = _mm256_set1_ps(p.clip_hi);
  const int64_t rem = p.out_w % 8;
  const __m256i tail =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const int64_t vectors = (p.out_w + 7) / 8;
  const bool partial = rem != 0;
  int64_t oy = 0;
  // Narrow planes: several rows at once.
  if (vectors == 1) {
    for (; oy + 4 <= p.out_h; oy += 4) {
      Rows<kTaps, 4, 1>(p, taps, wv, p.plane + oy * row_step, row_step, 0, p.out + oy * p.out_w,
                        partial, tail, bias, lo, hi);
    }
  } else if (vectors == 2) {
    for (; oy + 2 <= p.out_h; oy += 2) {
      Rows<kTaps, 2, 2>(p, taps, wv, p.plane + oy * row_step, row_step, 0, p.out + oy * p.out_w,
                        partial, tail, bias, lo, hi);
    }
  }
  for (; oy < p.out_h; ++oy) {
    const float* base = p.plane + oy * row_step;
    float* out = p.out + oy * p.out_w;
    int64_t ox = 0;
    for (; ox + 32 <= p.out_w; ox += 32) {
      Rows<kTaps, 1, 4>(p, taps, wv, base, row_step, ox, out, false, tail, bias, lo, hi);
    }
    for (; ox + 16 <= p.out_w; ox += 16) {
      Rows<kTaps, 1, 2>(p, taps, wv, base, row_step, ox, out, false, tail, bias, lo, hi);
    }
    for (; ox + 8 <= p.out_w; ox += 8) {
      Rows<kTaps, 1, 1>(p, taps, wv, base, row_step, ox, out, false, tail, bias, lo, hi);
    }
    if (partial) {
      Rows<kTaps, 1, 1>(p, taps, wv, base, row_step, ox, out, true, tail, bias, lo, hi);
    }
  }
}

}  // namespace

void DepthwisePlaneAvx2(const DepthwisePlane& p) {
  const int64_t taps = p.kernel_h * p.kernel_w;
  if (taps == 9) return Plane<9>(p);
  if (taps == 25) return Plane<25>(p);
  if (taps <= kMaxTaps) return Plane<0>(p);
}

}  // namespace refit::cpu::internal
