#include "backend/cpu/gemm_epilogue.h"

#include <algorithm>

#include "backend/cpu/cpu_features.h"

namespace refit::cpu {
namespace {

bool HasAvx2() {
  static const bool has = [] {
    const CpuFeatures& f = DetectCpuFeatures();
    return f.avx2 && f.fma;
  }();
  return has;
}

}  // namespace

namespace internal {

void ActivateInPlace(const ir::FusedActivation& act, float* x, int64_t n) {
  if (act.kind == ir::ActivationKind::kNone) return;
  for (int64_t j = 0; j < n; ++j) x[j] = ir::ApplyActivation(act, x[j]);
}

}  // namespace internal

void ApplyGemmEpilogue(const GemmEpilogue& ep, int64_t row0, int64_t rows, int64_t n, float* y,
                       int64_t ldy) {
  if (ep.identity() || rows <= 0 || n <= 0) return;
  if (HasAvx2()) {
    internal::ApplyGemmEpilogueAvx2(ep, row0, rows, n, y, ldy);
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    float* row = y + i * ldy;
    const float* c = ep.c != nullptr ? ep.c + (row0 + i) * ep.c_row_stride : nullptr;
    for (int64_t j = 0; j < n; ++j) {
      float v = ep.alpha * row[j];
      if (c != nullptr) v += ep.beta * c[j * ep.c_col_stride];
      row[j] = v;
    }
    internal::ActivateInPlace(ep.act, row, n);
  }
}

void ApplyGemmEpilogue(const GemmEpilogue& ep, int64_t m, int64_t n, float* y, ThreadPool* pool) {
  if (ep.identity() || m <= 0 || n <= 0) return;
  // Below this many elements one thread finishes before a second would have woken up.
  constexpr int64_t kMinParallel = 1 << 15;
  const int64_t rows_per_task = std::max<int64_t>(1, kMinParallel / (2 * n));
  const int64_t tasks = m * n < kMinParallel ? 1 : (m + rows_per_task - 1) / rows_per_task;
  ParallelFor(tasks > 1 ? pool : nullptr, tasks, [&](int64_t begin, int64_t end) {
    const int64_t r0 = begin * rows_per_task, r1 = std::min(m, end * rows_per_task);
    ApplyGemmEpilogue(ep, r0, r1 - r0, n, y + r0 * n, n);
  });
}

}  // namespace refit::cpu
