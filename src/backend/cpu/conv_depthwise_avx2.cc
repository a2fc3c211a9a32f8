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

// kTaps: the kernel's tap count when fixed at compile time (9, 25), 0 for any other (<= kMaxTaps).
// Each step computes NV vectors of one output row: NV independent FMA chains hide the latency.
template <int kTaps, int NV>
inline void Block(const float* row_base, const int64_t* off, int taps, const float* w, __m256 bias,
                  int64_t ox, __m256* acc) {
  for (int v = 0; v < NV; ++v) acc[v] = bias;
  const int n = kTaps > 0 ? kTaps : taps;
#pragma GCC unroll 25
  for (int t = 0; t < n; ++t) {
    const __m256 wv = _mm256_broadcast_ss(w + t);
    const float* src = row_base + off[t] + ox;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(src + 8 * v), acc[v]);
  }
}

inline __m256 Activate(__m256 v, const DepthwisePlane& p, __m256 lo, __m256 hi) {
  // max/min return their second operand when either is NaN, so NaN propagates.
  if (p.act == ir::ActivationKind::kRelu) return _mm256_max_ps(_mm256_setzero_ps(), v);
  if (p.act == ir::ActivationKind::kClip) return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
  return v;
}

template <int kTaps>
void Plane(const DepthwisePlane& p) {
  int64_t off[kMaxTaps];
  const int taps = int(p.kernel_h * p.kernel_w);
  const int64_t row_len = p.stride_w * p.phase_len;
  for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
      const int64_t c = kx * p.dilation_w;
      off[ky * p.kernel_w + kx] =
          ky * p.dilation_h * row_len + (c % p.stride_w) * p.phase_len + c / p.stride_w;
    }
  }
  const __m256 bias = _mm256_set1_ps(p.bias);
  const __m256 lo = _mm256_set1_ps(p.clip_lo), hi = _mm256_set1_ps(p.clip_hi);
  const int64_t rem = p.out_w % 8;
  const __m256i tail_mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t oy = 0; oy < p.out_h; ++oy) {
    const float* row_base = p.plane + oy * p.stride_h * row_len;
    float* out = p.out + oy * p.out_w;
    int64_t ox = 0;
    __m256 acc[4];
    for (; ox + 32 <= p.out_w; ox += 32) {
      Block<kTaps, 4>(row_base, off, taps, p.weights, bias, ox, acc);
      for (int v = 0; v < 4; ++v) _mm256_storeu_ps(out + ox + 8 * v, Activate(acc[v], p, lo, hi));
    }
    for (; ox + 16 <= p.out_w; ox += 16) {
      Block<kTaps, 2>(row_base, off, taps, p.weights, bias, ox, acc);
      for (int v = 0; v < 2; ++v) _mm256_storeu_ps(out + ox + 8 * v, Activate(acc[v], p, lo, hi));
    }
    for (; ox + 8 <= p.out_w; ox += 8) {
      Block<kTaps, 1>(row_base, off, taps, p.weights, bias, ox, acc);
      _mm256_storeu_ps(out + ox, Activate(acc[0], p, lo, hi));
    }
    if (rem != 0) {  // the prepared plane is wide enough for a whole last vector
      Block<kTaps, 1>(row_base, off, taps, p.weights, bias, ox, acc);
      _mm256_maskstore_ps(out + ox, tail_mask, Activate(acc[0], p, lo, hi));
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
