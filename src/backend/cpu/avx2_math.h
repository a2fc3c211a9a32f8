// Internal to backend/cpu, included ONLY by *_avx2.cc files (built with -mavx2 -mfma): vectorised
// float math (exp, erf, the fused activations), lane masks on 8 lanes and the 8 x 8 register
// transpose.
//
// Everything here is `static inline`: each AVX2 translation unit gets its own private copy, so the
// linker can never merge one of these into ISA-neutral code (see gemm_microkernel.h).
// Accuracy: exp within 2 ulp over its range; erf within 2e-7 absolute; NaN propagates.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "ir/fused_ops.h"

namespace refit::cpu::internal {

// A mask of the first n (0 < n < 8) of 8 lanes, for masked loads and stores at a row's end.
static inline __m256i FirstLanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// exp(x). Results below ~1.2e-38 flush to 0; inputs above 88 saturate at exp(88).
static inline __m256 Exp256(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654475f);  // ln(FLT_MIN): 2^n stays a normal float
  const __m256 hi = _mm256_set1_ps(88.0f);
  // max/min return the second operand when either is NaN, so NaN flows through.
  const __m256 xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // Cody-Waite reduction: r = x - n ln2 in two parts keeps r exact enough for the polynomial.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  // Below the clamp the true value is (nearly) zero; an unordered compare keeps NaN lanes.
  return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
}

// erf(x), Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) on |x|, sign restored.
static inline __m256 Erf256(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, one));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = Exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
  const __m256 y = _mm256_fnmadd_ps(p, e, one);
  return _mm256_or_ps(y, sign);
}

static inline __m256 Sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, Exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh(|x|) = (1 - e) / (1 + e) with e = exp(-2|x|), which never overflows; sign restored.
static inline __m256 Tanh256(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = Exp256(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  return _mm256_or_ps(_mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)), sign);
}

// The fused activation of kind K on 8 lanes, as ir::ApplyActivation defines it. A template so
// that loops dispatch on the kind once, outside (WithActivation256).
template <ir::ActivationKind K>
static inline __m256 Activate256(const ir::FusedActivation& act, __m256 x) {
  using ir::ActivationKind;
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  if constexpr (K == ActivationKind::kRelu) {
    return _mm256_max_ps(zero, x);
  } else if constexpr (K == ActivationKind::kClip) {
    return _mm256_min_ps(_mm256_set1_ps(act.beta), _mm256_max_ps(_mm256_set1_ps(act.alpha), x));
  } else if constexpr (K == ActivationKind::kSigmoid) {
    return Sigmoid256(x);
  } else if constexpr (K == ActivationKind::kSilu) {
    return _mm256_mul_ps(x, Sigmoid256(x));
  } else if constexpr (K == ActivationKind::kGelu) {
    const __m256 e = Erf256(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, e));
  } else if constexpr (K == ActivationKind::kHardSwish) {
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 6.0f), _mm256_set1_ps(0.5f));
    return _mm256_mul_ps(x, _mm256_min_ps(one, _mm256_max_ps(zero, t)));
  } else if constexpr (K == ActivationKind::kHardSigmoid) {
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(act.alpha), _mm256_set1_ps(act.beta));
    return _mm256_min_ps(one, _mm256_max_ps(zero, t));
  } else if constexpr (K == ActivationKind::kLeakyRelu) {
    const __m256 neg = _mm256_mul_ps(x, _mm256_set1_ps(act.alpha));
    return _mm256_blendv_ps(neg, x, _mm256_cmp_ps(x, zero, _CMP_GE_OQ));
  } else if constexpr (K == ActivationKind::kTanh) {
    return Tanh256(x);
  } else {
    return x;
  }
}

// Calls f.template operator()<K>() with act.kind as a compile-time constant.
template <typename F>
static inline void WithActivation256(const ir::FusedActivation& act, F&& f) {
  using ir::ActivationKind;
  switch (act.kind) {
    case ActivationKind::kNone:
      return f.template operator()<ActivationKind::kNone>();
    case ActivationKind::kRelu:
      return f.template operator()<ActivationKind::kRelu>();
    case ActivationKind::kClip:
      return f.template operator()<ActivationKind::kClip>();
    case ActivationKind::kSigmoid:
      return f.template operator()<ActivationKind::kSigmoid>();
    case ActivationKind::kSilu:
      return f.template operator()<ActivationKind::kSilu>();
    case ActivationKind::kGelu:
      return f.template operator()<ActivationKind::kGelu>();
    case ActivationKind::kHardSwish:
      return f.template operator()<ActivationKind::kHardSwish>();
    case ActivationKind::kHardSigmoid:
      return f.template operator()<ActivationKind::kHardSigmoid>();
    case ActivationKind::kLeakyRelu:
      return f.template operator()<ActivationKind::kLeakyRelu>();
    case ActivationKind::kTanh:
      return f.template operator()<ActivationKind::kTanh>();
  }
}

// Lanes [0, count) set, for masked loads and stores of a row's tail (count in 0..8).
static inline __m256i TailMask256(int64_t count) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(count)), idx);
}

// r[0..7] := its transpose (r[i] lane j <- r[j] lane i).
static inline void Transpose8x8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

}  // namespace refit::cpu::internal
