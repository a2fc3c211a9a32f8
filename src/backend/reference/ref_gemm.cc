#include "backend/reference/ref_gemm.h"

#include <algorithm>
#include <vector>

namespace refit::reference {
namespace {

// Blocking: four rows of C (kNc columns) stay in L1 while a kKc x kNc panel of B stays in L2.
template <typename T>
constexpr int64_t kNc = 4096 / int64_t(sizeof(T));
constexpr int64_t kKc = 128;
constexpr int64_t kRows = 4;
// Below this many multiply-adds, waking the pool costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

// C[r0:r1, :] (+)= A[r0:r1, :] * B with A m x k, B k x n, all row-major and contiguous.
template <typename T>
void GemmRows(int64_t r0, int64_t r1, int64_t n, int64_t k, const T* a, const T* b, T* c,
              bool accumulate) {
  if (!accumulate) std::fill(c + r0 * n, c + r1 * n, T(0));
  for (int64_t jc = 0; jc < n; jc += kNc<T>) {
    const int64_t nc = std::min(kNc<T>, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      int64_t i = r0;
      // Four rows at a time: each B element loaded once feeds four multiply-adds.
      for (; i + kRows <= r1; i += kRows) {
        T* __restrict c0 = c + i * n + jc;
        T* __restrict c1 = c0 + n;
        T* __restrict c2 = c1 + n;
        T* __restrict c3 = c2 + n;
        const T* a0 = a + i * k + pc;
        for (int64_t p = 0; p < kc; ++p) {
          const T* __restrict bp = b + (pc + p) * n + jc;
          const T v0 = a0[p], v1 = a0[k + p], v2 = a0[2 * k + p], v3 = a0[3 * k + p];
          for (int64_t j = 0; j < nc; ++j) {
            const T bj = bp[j];
            c0[j] += v0 * bj;
            c1[j] += v1 * bj;
            c2[j] += v2 * bj;
            c3[j] += v3 * bj;
          }
        }
      }
      for (; i < r1; ++i) {
        T* __restrict c0 = c + i * n + jc;
        const T* a0 = a + i * k + pc;
        for (int64_t p = 0; p < kc; ++p) {
          const T* __restrict bp = b + (pc + p) * n + jc;
          const T v0 = a0[p];
          for (int64_t j = 0; j < nc; ++j) c0[j] += v0 * bp[j];
        }
      }
    }
  }
}

// Dense transpose of a rows x cols matrix.
template <typename T>
std::vector<T> Transposed(const T* src, int64_t rows, int64_t cols) {
  std::vector<T> dst(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t q = 0; q < cols; ++q) dst[size_t(q * rows + r)] = src[r * cols + q];
  }
  return dst;
}

template <typename T>
void GemmImpl(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              const T* a, const T* b, T* c, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  // Transposed operands are packed once so the inner loop always walks contiguous rows.
  std::vector<T> a_packed, b_packed;
  if (trans_a) {
    a_packed = Transposed(a, k, m);
    a = a_packed.data();
  }
  if (trans_b) {
    b_packed = Transposed(b, n, k);
    b = b_packed.data();
  }
  const int64_t blocks = (m + kRows - 1) / kRows;
  if (m * n * k < kMinParallelWork) pool = nullptr;
  ParallelFor(pool, blocks, [&](int64_t begin, int64_t end) {
    GemmRows(begin * kRows, std::min(end * kRows, m), n, k, a, b, c, accumulate);
  });
}

}  // namespace

void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const float* a, const float* b, float* c, bool accumulate) {
  GemmImpl(pool, trans_a, trans_b, m, n, k, a, b, c, accumulate);
}
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const double* a, const double* b, double* c, bool accumulate) {
  GemmImpl(pool, trans_a, trans_b, m, n, k, a, b, c, accumulate);
}
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const int32_t* a, const int32_t* b, int32_t* c, bool accumulate) {
  GemmImpl(pool, trans_a, trans_b, m, n, k, a, b, c, accumulate);
}
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const int64_t* a, const int64_t* b, int64_t* c, bool accumulate) {
  GemmImpl(pool, trans_a, trans_b, m, n, k, a, b, c, accumulate);
}

}  // namespace refit::reference
