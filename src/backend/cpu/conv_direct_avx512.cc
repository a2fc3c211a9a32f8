// conv_direct's AVX-512 row kernels (conv_isa.h: DirectConvRow). Compiled with -mavx512f
// -mavx512bw -mavx512dq -mavx512vl -mfma; no standard-library inline code here.
#include <immintrin.h>

#include "backend/cpu/avx512_util.h"
#include "backend/cpu/conv_isa.h"

// GCC 12 reports _mm512_max_ps/_mm512_min_ps's internal _mm512_undefined_ps() as
// maybe-uninitialized (see gemm_kernels_avx512.cc).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace refit::cpu::internal {
namespace {

// CH channels x NV vectors of 16 pixels per register tile (CH * NV accumulators).
template <int CH, int NV>
void Row(const DirectConvRow& r) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(r.clip_lo), hi = _mm512_set1_ps(r.clip_hi);
  const int64_t taps = r.taps;
  for (int64_t x0 = 0; x0 < r.out_w; x0 += 16 * NV) {
    __mmask16 m[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) m[v] = FirstLanes16(r.out_w - x0 - 16 * v);
    __m512 acc[CH][NV];
#pragma GCC unroll 16
    for (int j = 0; j < CH; ++j) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[j][v] = zero;
    }
    const float* w = r.w;
    const float* in = r.in + x0;
    for (int64_t t = 0; t < taps; ++t) {
      const float* src = in + r.tap_off[t];
      __m512 x[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(m[v], src + 16 * v);
#pragma GCC unroll 16
      for (int j = 0; j < CH; ++j) {
        const __m512 wj = _mm512_set1_ps(w[j]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(wj, x[v], acc[j][v]);
      }
      w += CH;
    }
#pragma GCC unroll 16
    for (int j = 0; j < CH; ++j) {
      if (j >= r.channels) break;
      const __m512 b = _mm512_set1_ps(r.bias[j]);
      float* out = r.y + j * r.out_plane + x0;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        __m512 y = _mm512_add_ps(acc[j][v], b);
        // max/min return the second operand when either is NaN, so NaN propagates.
        if (r.act == ir::ActivationKind::kRelu) {
          y = _mm512_max_ps(zero, y);
        } else if (r.act == ir::ActivationKind::kClip) {
          y = _mm512_min_ps(hi, _mm512_max_ps(lo, y));
        }
        _mm512_mask_storeu_ps(out + 16 * v, m[v], y);
      }
    }
  }
}

}  // namespace

void DirectConvRow8Avx512(const DirectConvRow& r) { Row<8, 2>(r); }
void DirectConvRow16Avx512(const DirectConvRow& r) { Row<16, 1>(r); }

}  // namespace refit::cpu::internal
