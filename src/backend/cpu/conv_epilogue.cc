#include "backend/cpu/conv_epilogue.h"

#include <algorithm>

#include "backend/cpu/conv_isa.h"
#include "backend/cpu/cpu_features.h"

namespace refit::cpu {

void BiasActivationSerial(const ir::FusedActivation& act, const float* bias, float* y, int64_t rows,
                          int64_t cols, int64_t ld) {
  if (act.kind == ir::ActivationKind::kNone && bias == nullptr) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx2 && cpu.fma) {
    internal::BiasActivationAvx2(act.kind, act.alpha, act.beta, bias, y, rows, cols, ld);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    const float b = bias != nullptr ? bias[r] : 0.0f;
    for (int64_t j = 0; j < cols; ++j) row[j] = ir::ApplyActivation(act, row[j] + b);
  }
}

void BiasActivation(const ir::FusedActivation& act, const float* bias, float* y, int64_t rows,
                    int64_t cols, int64_t ld, ThreadPool* pool) {
  if (act.kind == ir::ActivationKind::kNone && bias == nullptr) return;
  // Split rows, and each row into column blocks when there are few rows, so every thread gets
  // work; blocks of at least 1024 floats keep the per-task overhead small.
  const int64_t col_block = std::max<int64_t>(1024, (cols + 7) / 8 * 8 / 4);
  const int64_t blocks = (cols + col_block - 1) / col_block;
  ParallelFor(pool, rows * blocks, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / blocks, j0 = (t % blocks) * col_block;
      BiasActivationSerial(act, bias != nullptr ? bias + r : nullptr, y + r * ld + j0, 1,
                           std::min(col_block, cols - j0), ld);
    }
  });
}

std::optional<Activation> NativeGemmActivation(const ir::FusedActivation& act) {
  switch (act.kind) {
    case ir::ActivationKind::kNone:
      return Activation::kNone;
    case ir::ActivationKind::kRelu:
      return Activation::kRelu;
    case ir::ActivationKind::kClip:
      if (act.alpha == 0.0f && act.beta == 6.0f) return Activation::kRelu6;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace refit::cpu
