// AVX2 Softmax / LogSoftmax (compiled with -mavx2 -mfma; no standard-library inline code here).
// Max and sum go in float with several accumulators; exp is Exp256 (within 2 ulp).
#include <math.h>

#include "backend/cpu/avx2_math.h"
#include "backend/cpu/softmax_kernels.h"

namespace refit::cpu::internal {
namespace {

inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

}  // namespace

void SoftmaxRowAvx2(const float* x, float* y, int64_t len, bool log) {
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  const int64_t full = len / 8 * 8;
  const __m256i tail = TailMask256(len - full);
  __m256 m0 = neg_inf, m1 = neg_inf;
  int64_t i = 0;
  for (; i + 16 <= full; i += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
  }
  if (i < full) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
  if (full < len) {
    const __m256 v =
        _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + full, tail), _mm256_castsi256_ps(tail));
    m1 = _mm256_max_ps(m1, v);
  }
  const __m256 max = _mm256_set1_ps(HorizontalMax(_mm256_max_ps(m0, m1)));
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= full; i += 16) {
    const __m256 e0 = Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), max));
    const __m256 e1 = Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), max));
    if (!log) {
      _mm256_storeu_ps(y + i, e0);
      _mm256_storeu_ps(y + i + 8, e1);
    }
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
  }
  if (i < full) {
    const __m256 e = Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), max));
    if (!log) _mm256_storeu_ps(y + i, e);
    s0 = _mm256_add_ps(s0, e);
  }
  if (full < len) {
    const __m256 e = _mm256_and_ps(Exp256(_mm256_sub_ps(_mm256_maskload_ps(x + full, tail), max)),
                                   _mm256_castsi256_ps(tail));
    if (!log) _mm256_maskstore_ps(y + full, tail, e);
    s1 = _mm256_add_ps(s1, e);
  }
  const float sum = HorizontalSum(_mm256_add_ps(s0, s1));
  if (log) {
    const __m256 shift = _mm256_add_ps(max, _mm256_set1_ps(logf(sum)));
    for (i = 0; i < full; i += 8) {
      _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), shift));
    }
    if (full < len) {
      _mm256_maskstore_ps(y + full, tail, _mm256_sub_ps(_mm256_maskload_ps(x + full, tail), shift));
    }
  } else {
    const __m256 scale = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i < full; i += 8)
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), scale));
    if (full < len) {
      _mm256_maskstore_ps(y + full, tail, _mm256_mul_ps(_mm256_maskload_ps(y + full, tail), scale));
    }
  }
}

void SoftmaxColumnsAvx2(const float* x, float* y, int64_t len, int64_t stride, int64_t count,
                        bool log) {
  const __m256i mask = TailMask256(count);
  __m256 max = _mm256_set1_ps(-__builtin_inff());
  for (int64_t k = 0; k < len; ++k) {
    max = _mm256_max_ps(max, _mm256_maskload_ps(x + k * stride, mask));
  }
  __m256 sum = _mm256_setzero_ps();
  for (int64_t k = 0; k < len; ++k) {
    const __m256 e = Exp256(_mm256_sub_ps(_mm256_maskload_ps(x + k * stride, mask), max));
    if (!log) _mm256_maskstore_ps(y + k * stride, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (log) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum);
    for (int j = 0; j < 8; ++j) lanes[j] = logf(lanes[j]);
    const __m256 shift = _mm256_add_ps(max, _mm256_load_ps(lanes));
    for (int64_t k = 0; k < len; ++k) {
      _mm256_maskstore_ps(y + k * stride, mask,
                          _mm256_sub_ps(_mm256_maskload_ps(x + k * stride, mask), shift));
    }
  } else {
    const __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
    for (int64_t k = 0; k < len; ++k) {
      _mm256_maskstore_ps(y + k * stride, mask,
                          _mm256_mul_ps(_mm256_maskload_ps(y + k * stride, mask), scale));
    }
  }
}

}  // namespace refit::cpu::internal
