// Internal to backend/cpu: an out-of-place f32 matrix transpose for the layout changes between
// NCHW activations and row-major GEMM operands (conv_gemm_t: NCHW input -> pixel rows, GEMM
// output [pixels x channels] -> NCHW). Blocked so that both the reads and the writes stay within a
// few cache lines per block: 8x8 AVX2 blocks when this CPU has AVX2, 4x4 SSE blocks otherwise.
// Like conv_isa.h, no inline functions here (the AVX2 half is built with -mavx2 -mfma).
#pragma once

#include <cstdint>

namespace refit::cpu {

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols. src and dst must not overlap.
void TransposeF32(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                  int64_t ldd);
// TransposeF32, checking the values on the way (a refit packing a transposed weight): returns
// false when one is NaN or infinite (all are still written).
bool TransposeF32Finite(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                        int64_t ldd);

namespace internal {
void TransposeF32Avx2(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                      int64_t ldd);
bool TransposeF32FiniteAvx2(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                            int64_t ldd);
}  // namespace internal

}  // namespace refit::cpu
