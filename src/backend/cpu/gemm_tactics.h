// Internal to backend/cpu: the GEMM tactic families, listed by AddGemmTactics (tactic_gemm.cc).
#pragma once

#include <memory>

#include "backend/backend.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/gemm_params.h"

namespace refit::cpu {

// "gemm_packed/<kernel>": GemmPacked with one micro-kernel; B packed at build time when it is a
// weight, into the workspace at run time otherwise.
std::unique_ptr<backend::Tactic> MakePackedGemmTactic(const GemmLayer& g,
                                                      const GemmKernelInfo& info);
// "gemm_openblas": cblas_sgemm per output matrix.
std::unique_ptr<backend::Tactic> MakeOpenBlasGemmTactic(const GemmLayer& g);
// "gemm_dnnl/<weights layout>": a oneDNN matmul primitive; only for a 2-D weight B. Null when
// oneDNN cannot build the primitive.
std::unique_ptr<backend::Tactic> MakeDnnlGemmTactic(const GemmLayer& g);

// Bytes of workspace a region of `floats` floats takes, rounded up to keep 64-byte alignment.
inline size_t AlignedFloatBytes(size_t floats) { return (floats * sizeof(float) + 63) / 64 * 64; }

}  // namespace refit::cpu
