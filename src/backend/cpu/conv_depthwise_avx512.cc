// AVX-512 depthwise convolution of one channel plane (compiled with -mavx512f and friends),
// vectorised along the output width as conv_depthwise_avx2.cc is, 16 outputs to a vector: a tap
// costs one load and one FMA per 16 outputs instead of per 8. The last vector of a row is loaded
// and stored through a lane mask, so nothing is read or written past the row's outputs and their
// inputs. No standard-library inline code here: see conv_isa.h.
//
// The input plane is a phase plane (conv_isa.h): the inputs of outputs ox .. ox + 15 for one tap
// sit at consecutive floats whatever the stride and dilation.
// GCC 12 warns that the AVX-512 intrinsics' own undefined pass-through operands may be used
// uninitialized: they are not, and the warning is about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

constexpr int kMaxTaps = 128;

// R output rows of NV vectors each, from output column ox: R * NV independent FMA chains. `mask`
// selects the lanes of each row's last vector (every lane unless the row ends inside it). `wv`:
// the taps' weights, broadcast once per plane when the tap count is fixed at compile time (kTaps
// 9, 25); else broadcast per use.
template <int kTaps, int R, int NV>
inline void Rows(const DepthwisePlane& p, int taps, const __m512* wv, const float* base,
                 int64_t row_step, int64_t ox, float* out, __mmask16 mask, __m512 bias, __m512 lo,
                 __m512 hi) {
  __m512 acc[R * NV];
  for (int i = 0; i < R * NV; ++i) acc[i] = bias;
  const int n = kTaps > 0 ? kTaps : taps;
#pragma GCC unroll 25
  for (int t = 0; t < n; ++t) {
    const __m512 w = kTaps > 0 ? wv[t] : _mm512_set1_ps(p.weights[t]);
    const float* src = base + p.taps[t] + ox;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const float* s = src + r * row_step + 16 * v;
        const __m512 x = v == NV - 1 ? _mm512_maskz_loadu_ps(mask, s) : _mm512_loadu_ps(s);
        acc[r * NV + v] = _mm512_fmadd_ps(w, x, acc[r * NV + v]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    float* o = out + r * p.out_w + ox;
    for (int v = 0; v < NV; ++v) {
      __m512 y = acc[r * NV + v];
      // max/min return their second operand when either is NaN, so NaN propagates.
      if (p.act == ir::ActivationKind::kRelu) y = _mm512_max_ps(_mm512_setzero_ps(), y);
      if (p.act == ir::ActivationKind::kClip) y = _mm512_min_ps(hi, _mm512_max_ps(lo, y));
      if (v == NV - 1) {
        _mm512_mask_storeu_ps(o + 16 * v, mask, y);
      } else {
        _mm512_storeu_ps(o + 16 * v, y);
      }
    }
  }
}

template <int kTaps>
void Plane(const DepthwisePlane& p) {
  const int taps = int(p.kernel_h * p.kernel_w);
  __m512 wv[kTaps > 0 ? kTaps : 1];
  if constexpr (kTaps > 0) {
    for (int t = 0; t < kTaps; ++t) wv[t] = _mm512_set1_ps(p.weights[t]);
  }
  const int64_t row_step = p.stride_h * p.stride_w * p.phase_len;
  const __m512 bias = _mm512_set1_ps(p.bias);
  const __m512 lo = _mm512_set1_ps(p.clip_lo), hi = _mm512_set1_ps(p.clip_hi);
  const __mmask16 all = FirstLanes16(16);
  const __mmask16 tail = FirstLanes16(p.out_w % 16 == 0 ? 16 : p.out_w % 16);
  const int64_t vectors = (p.out_w + 15) / 16;
  int64_t oy = 0;
  // Narrow planes (one or two vectors a row): several rows at once.
  if (vectors == 1) {
    for (; oy + 4 <= p.out_h; oy += 4) {
      Rows<kTaps, 4, 1>(p, taps, wv, p.plane + oy * row_step, row_step, 0, p.out + oy * p.out_w,
                        tail, bias, lo, hi);
    }
  } else if (vectors == 2) {
    for (; oy + 2 <= p.out_h; oy += 2) {
      Rows<kTaps, 2, 2>(p, taps, wv, p.plane + oy * row_step, row_step, 0, p.out + oy * p.out_w,
                        tail, bias, lo, hi);
    }
  }
  for (; oy < p.out_h; ++oy) {
    const float* base = p.plane + oy * row_step;
    float* out = p.out + oy * p.out_w;
    int64_t ox = 0;
    for (; ox + 64 <= p.out_w; ox += 64) {
      Rows<kTaps, 1, 4>(p, taps, wv, base, row_step, ox, out, all, bias, lo, hi);
    }
    for (; ox + 32 <= p.out_w; ox += 32) {
      Rows<kTaps, 1, 2>(p, taps, wv, base, row_step, ox, out, all, bias, lo, hi);
    }
    for (; ox < p.out_w; ox += 16) {
      Rows<kTaps, 1, 1>(p, taps, wv, base, row_step, ox, out, FirstLanes16(p.out_w - ox), bias, lo,
                        hi);
    }
  }
}

}  // namespace

void DepthwisePlaneAvx512(const DepthwisePlane& p) {
  const int64_t taps = p.kernel_h * p.kernel_w;
  if (taps == 9) return Plane<9>(p);
  if (taps == 25) return Plane<25>(p);
  if (taps <= kMaxTaps) return Plane<0>(p);
}

}  // namespace refit::cpu::internal
