// Internal to backend/cpu: the GEMM tactic families, listed by AddGemmTactics (tactic_gemm.cc).
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/gemm_params.h"

namespace refit::cpu {

// "gemm_openblas": cblas_sgemm per output matrix.
std::unique_ptr<backend::Tactic> MakeOpenBlasGemmTactic(const GemmLayer& g);
// oneDNN matmul primitives; only for a 2-D weight B. "gemm_dnnl/<weights layout>": B reordered
// into the layout oneDNN prefers; "gemm_dnnl/stored_<layout>" (when that differs from the
// weight's own layout and alpha is 1): B read as stored, so packing and refit are a copy. Empty
// when oneDNN cannot build the primitives. With `name` (an engine load), the stored variant is
// made only when it is the one named.
std::vector<std::unique_ptr<backend::Tactic>> MakeDnnlGemmTactics(const GemmLayer& g,
                                                                  std::string_view name = {});

// "gemm_gemv/avx512": one to four rows of A against a transB weight used as stored, so packing
// and refit are a copy (gemm_gemv.cc); null when the layer is not such a GEMM or the CPU lacks
// AVX-512.
std::unique_ptr<backend::Tactic> MakeGemvTactic(const GemmLayer& g);

// Bytes of workspace a region of `floats` floats takes, rounded up to keep 64-byte alignment.
inline size_t AlignedFloatBytes(size_t floats) { return (floats * sizeof(float) + 63) / 64 * 64; }

}  // namespace refit::cpu
