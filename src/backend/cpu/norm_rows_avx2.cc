// AVX2 + FMA row kernels of the normalisation tactics (eltwise_kernel.h): sums in double lanes so
// long rows keep the reference's accuracy, affine passes in float. Internal linkage throughout.
#include <immintrin.h>

#include "backend/cpu/eltwise_kernel.h"

namespace refit::cpu::internal {
namespace {

double HorizontalSum(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Four independent double accumulators per pass (16 floats an iteration): the adds' latency, not
// the loads, bounds a sum with fewer.
void Stats(const float* x, int64_t n, double* mean, double* var) {
  __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                  _mm256_setzero_pd()};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v = _mm256_loadu_ps(x + i), w = _mm256_loadu_ps(x + i + 8);
    s[0] = _mm256_add_pd(s[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s[1] = _mm256_add_pd(s[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    s[2] = _mm256_add_pd(s[2], _mm256_cvtps_pd(_mm256_castps256_ps128(w)));
    s[3] = _mm256_add_pd(s[3], _mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)));
  }
  double sum = HorizontalSum(_mm256_add_pd(_mm256_add_pd(s[0], s[1]), _mm256_add_pd(s[2], s[3])));
  for (; i < n; ++i) sum += x[i];
  const double m = sum / double(n);
  const __m256d vm = _mm256_set1_pd(m);
  for (__m256d& v : s) v = _mm256_setzero_pd();
  i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v = _mm256_loadu_ps(x + i), w = _mm256_loadu_ps(x + i + 8);
    const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vm);
    const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vm);
    const __m256d d2 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(w)), vm);
    const __m256d d3 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)), vm);
    s[0] = _mm256_fmadd_pd(d0, d0, s[0]);
    s[1] = _mm256_fmadd_pd(d1, d1, s[1]);
    s[2] = _mm256_fmadd_pd(d2, d2, s[2]);
    s[3] = _mm256_fmadd_pd(d3, d3, s[3]);
  }
  double ss = HorizontalSum(_mm256_add_pd(_mm256_add_pd(s[0], s[1]), _mm256_add_pd(s[2], s[3])));
  for (; i < n; ++i) ss += (x[i] - m) * (x[i] - m);
  *mean = m;
  *var = ss / double(n);
}

void Affine(const float* x, float* y, int64_t n, float mean, float a, float b) {
  const __m256 vm = _mm256_set1_ps(mean), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), va, vb));
  }
  for (; i < n; ++i) y[i] = (x[i] - mean) * a + b;
}

void AffineVec(const float* x, float* y, int64_t n, float mean, float inv, const float* scale,
               const float* bias) {
  const __m256 vm = _mm256_set1_ps(mean), vi = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 z = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
    if (scale != nullptr) z = _mm256_mul_ps(z, _mm256_loadu_ps(scale + i));
    if (bias != nullptr) z = _mm256_add_ps(z, _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(y + i, z);
  }
  for (; i < n; ++i) {
    y[i] = (x[i] - mean) * inv * (scale ? scale[i] : 1.f) + (bias ? bias[i] : 0.f);
  }
}

}  // namespace

NormFns Avx2NormFns() { return {&Stats, &Affine, &AffineVec}; }

}  // namespace refit::cpu::internal
