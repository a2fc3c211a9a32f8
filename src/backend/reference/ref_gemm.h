// A small cache-blocked GEMM shared by the reference Conv, ConvTranspose, MatMul and Gemm kernels.
//
// Computes C = op(A) * op(B) (or C += ... when `accumulate`), every matrix dense and row-major:
// op(A) is m x k (A is stored k x m when trans_a), op(B) is k x n (B stored n x k when trans_b),
// C is m x n. Accumulation happens in the element type (float for f32, double for f64; callers
// convert f16/bf16 to float first). Rows of C are split over `pool` (may be null); the call must
// not be made from inside a ParallelFor on the same pool. A, B and C must not overlap.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace refit::reference {

void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const float* a, const float* b, float* c, bool accumulate = false);
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const double* a, const double* b, double* c, bool accumulate = false);
// Integer variants accumulate in the element type too.
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const int32_t* a, const int32_t* b, int32_t* c, bool accumulate = false);
void RefGemm(ThreadPool* pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             const int64_t* a, const int64_t* b, int64_t* c, bool accumulate = false);

}  // namespace refit::reference
