// AVX2 + FMA bias + activation epilogue (compiled with -mavx2 -mfma). No standard-library inline
// code here: see conv_isa.h.
#include <immintrin.h>

#include "backend/cpu/conv_isa.h"

namespace refit::cpu::internal {
namespace {

using ir::ActivationKind;

// exp(x) with a Cephes-style degree-6 polynomial on [-ln2/2, ln2/2]: relative error ~2 ulp.
// max/min take x as the second operand so NaN propagates.
__m256 Exp(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  x = _mm256_max_ps(_mm256_set1_ps(-87.3365478515625f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // n is in [-126, 127]: the exponent field stays normal.
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__m256 Sigmoid(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, Exp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7).
__m256 Erf(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 ax = _mm256_xor_ps(x, sign);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, one));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
  return _mm256_xor_ps(_mm256_fnmadd_ps(p, e, one), sign);
}

__m256 Tanh(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 ax = _mm256_xor_ps(x, sign);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = Exp(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  return _mm256_xor_ps(_mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t)), sign);
}

template <ActivationKind kKind>
__m256 Apply(__m256 x, __m256 alpha, __m256 beta) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  if constexpr (kKind == ActivationKind::kRelu) return _mm256_max_ps(zero, x);
  if constexpr (kKind == ActivationKind::kClip) {
    return _mm256_min_ps(beta, _mm256_max_ps(alpha, x));
  }
  if constexpr (kKind == ActivationKind::kSigmoid) return Sigmoid(x);
  if constexpr (kKind == ActivationKind::kSilu) return _mm256_mul_ps(x, Sigmoid(x));
  if constexpr (kKind == ActivationKind::kGelu) {
    const __m256 e = Erf(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, e));
  }
  if constexpr (kKind == ActivationKind::kHardSwish) {
    const __m256 g = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 6.0f), _mm256_set1_ps(0.5f));
    return _mm256_mul_ps(x, _mm256_max_ps(zero, _mm256_min_ps(one, g)));
  }
  if constexpr (kKind == ActivationKind::kHardSigmoid) {
    return _mm256_max_ps(zero, _mm256_min_ps(one, _mm256_fmadd_ps(alpha, x, beta)));
  }
  if constexpr (kKind == ActivationKind::kLeakyRelu) {
    return _mm256_blendv_ps(_mm256_mul_ps(alpha, x), x, _mm256_cmp_ps(x, zero, _CMP_GE_OQ));
  }
  if constexpr (kKind == ActivationKind::kTanh) return Tanh(x);
  return x;
}

template <ActivationKind kKind>
void Rows(float alpha_s, float beta_s, const float* bias, float* y, int64_t rows, int64_t cols,
          int64_t ld) {
  const __m256 alpha = _mm256_set1_ps(alpha_s), beta = _mm256_set1_ps(beta_s);
  const int64_t full = cols / 8 * 8;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    const __m256 b = _mm256_set1_ps(bias != nullptr ? bias[r] : 0.0f);
    for (int64_t j = 0; j < full; j += 8) {
      _mm256_storeu_ps(row + j,
                       Apply<kKind>(_mm256_add_ps(_mm256_loadu_ps(row + j), b), alpha, beta));
    }
    if (full < cols) {
      alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t j = full; j < cols; ++j) tail[j - full] = row[j];
      _mm256_store_ps(tail, Apply<kKind>(_mm256_add_ps(_mm256_load_ps(tail), b), alpha, beta));
      for (int64_t j = full; j < cols; ++j) row[j] = tail[j - full];
    }
  }
}

}  // namespace

void BiasActivationAvx2(ActivationKind kind, float alpha, float beta, const float* bias, float* y,
                        int64_t rows, int64_t cols, int64_t ld) {
  switch (kind) {
    case ActivationKind::kNone:
      return Rows<ActivationKind::kNone>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kRelu:
      return Rows<ActivationKind::kRelu>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kClip:
      return Rows<ActivationKind::kClip>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kSigmoid:
      return Rows<ActivationKind::kSigmoid>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kSilu:
      return Rows<ActivationKind::kSilu>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kGelu:
      return Rows<ActivationKind::kGelu>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kHardSwish:
      return Rows<ActivationKind::kHardSwish>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kHardSigmoid:
      return Rows<ActivationKind::kHardSigmoid>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kLeakyRelu:
      return Rows<ActivationKind::kLeakyRelu>(alpha, beta, bias, y, rows, cols, ld);
    case ActivationKind::kTanh:
      return Rows<ActivationKind::kTanh>(alpha, beta, bias, y, rows, cols, ld);
  }
}

}  // namespace refit::cpu::internal
