// Internal to backend/cpu: Softmax / LogSoftmax row kernels (tactic_softmax.cc dispatches; AVX2 in
// softmax_avx2.cc). A row is `len` floats spaced `stride` apart; a column block is `count` <= 8
// adjacent rows (stride apart from element to element, consecutive from row to row).
#pragma once

#include <cstdint>

namespace refit::cpu::internal {

// y = softmax(x) (or log-softmax when `log`) over one contiguous row of len >= 1 floats.
void SoftmaxRowAvx2(const float* x, float* y, int64_t len, bool log);
// The same over `count` (1..8) adjacent rows whose elements are `stride` floats apart.
void SoftmaxColumnsAvx2(const float* x, float* y, int64_t len, int64_t stride, int64_t count,
                        bool log);

}  // namespace refit::cpu::internal
