// Internal to backend/cpu: the element-wise tail of a GEMM that a tactic's GEMM call did not fuse:
// Y = act(alpha * Y + beta * C), C broadcast through strides. Vectorised with AVX2 when this CPU
// has it (checked at run time), plain C++ otherwise.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "ir/fused_ops.h"

namespace refit::cpu {

struct GemmEpilogue {
  float alpha = 1.0f;
  // C[i][j] = c[i * c_row_stride + j * c_col_stride]; null when there is none.
  const float* c = nullptr;
  int64_t c_row_stride = 0, c_col_stride = 0;
  float beta = 1.0f;
  ir::FusedActivation act;

  bool identity() const {
    return alpha == 1.0f && c == nullptr && act.kind == ir::ActivationKind::kNone;
  }
};

// Rows [row0, row0 + rows) of an n-column Y (row stride ldy; y points at row row0).
void ApplyGemmEpilogue(const GemmEpilogue& ep, int64_t row0, int64_t rows, int64_t n, float* y,
                       int64_t ldy);

// The same over all m rows, split over `pool` (may be null) when there is enough work.
void ApplyGemmEpilogue(const GemmEpilogue& ep, int64_t m, int64_t n, float* y, ThreadPool* pool);

namespace internal {
void ApplyGemmEpilogueAvx2(const GemmEpilogue& ep, int64_t row0, int64_t rows, int64_t n, float* y,
                           int64_t ldy);  // gemm_epilogue_avx2.cc
// The activation over n contiguous floats, in place (baseline C++ / AVX2).
void ActivateInPlace(const ir::FusedActivation& act, float* x, int64_t n);
void ActivateInPlaceAvx2(const ir::FusedActivation& act, float* x, int64_t n);
}  // namespace internal

}  // namespace refit::cpu
