// Internal to backend/cpu: the bias + fused-activation pass the convolution tactics run after a
// GEMM or library call that could not fuse them itself.
#pragma once

#include <cstdint>
#include <optional>

#include "backend/cpu/gemm_packed.h"
#include "base/thread_pool.h"
#include "ir/fused_ops.h"

namespace refit::cpu {

// y[r * ld + j] = act(y[r * ld + j] + bias[r]) for r < rows, j < cols (bias may be null), split
// over `pool`. AVX2 code when this CPU has it, otherwise ir::ApplyActivation element by element.
// Must not be called from inside a ParallelFor on the same pool.
void BiasActivation(const ir::FusedActivation& act, const float* bias, float* y, int64_t rows,
                    int64_t cols, int64_t ld, ThreadPool* pool);

// The same on the calling thread only (for use inside a ParallelFor task).
void BiasActivationSerial(const ir::FusedActivation& act, const float* bias, float* y, int64_t rows,
                          int64_t cols, int64_t ld);

// GemmPacked's own epilogue for `act` when it has one (none, Relu, Clip(0, 6)); nullopt otherwise.
std::optional<Activation> NativeGemmActivation(const ir::FusedActivation& act);

}  // namespace refit::cpu
