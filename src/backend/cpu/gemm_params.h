// Internal to backend/cpu: a Gemm or MatMul layer reduced to the plain row-major GEMMs it runs,
// shared by the GEMM tactics (tactic_gemm.cc, gemm_openblas.cc, gemm_dnnl.cc).
//
// Every output matrix i is Y_i = act(alpha * op(A_{a_index[i]}) * op(B_{b_index[i]}) + beta * C),
// each matrix m x n with depth k, stored contiguously one after the other (a MatMul's leading
// dims of A fold into m when B is one 2-D matrix).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "ir/fused_ops.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::cpu {

// How Gemm's C broadcasts to [m, n].
enum class BiasForm {
  kNone,
  kRow,     // [n] or [1, n]
  kScalar,  // [], [1] or [1, 1]
  kColumn,  // [m, 1]
  kFull,    // [m, n]
};

struct GemmLayer {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;  // Gemm only; a batched MatMul has neither
  float alpha = 1.0f, beta = 1.0f;
  std::vector<int64_t> a_index, b_index;  // per output matrix: which matrix of A and of B
  int64_t b_matrices = 1;                 // matrices stored in B
  // B is one 2-D weight matrix: the tactics pack it (alpha folded in) at build and refit time.
  bool weight_b = false;
  BiasForm c_form = BiasForm::kNone;
  bool weight_c = false;  // C is a weight: packed as beta * C (row and scalar forms as n floats)
  ir::FusedActivation act;

  int64_t batch() const { return int64_t(a_index.size()); }
  bool row_bias() const { return c_form == BiasForm::kRow || c_form == BiasForm::kScalar; }
  // Scale still to apply at run time (1 when alpha went into the packed B).
  float run_alpha() const { return weight_b ? 1.0f : alpha; }
  float run_beta() const { return weight_c ? 1.0f : beta; }
};

// The GEMMs of `layer`, or nullopt when the GEMM tactics do not take it (not an f32 Gemm or
// MatMul, a 1-D B, an activation they cannot read, ...).
std::optional<GemmLayer> ParseGemmLayer(const backend::LayerDesc& layer);

// A weight C as the tactics store it: beta * C, row and scalar forms expanded to n floats.
StatusOr<Tensor> PackGemmBias(const GemmLayer& g, const Tensor& c);

// The shape PackGemmBias gives for a C of shape `c`.
Shape PackedGemmBiasShape(const GemmLayer& g, const Shape& c);

// alpha * B as a plain f32 tensor (B itself when alpha is 1): what gets packed for a weight B.
StatusOr<Tensor> ScaledWeight(const GemmLayer& g, const Tensor& b);

// Row and column strides (in floats) of C or of its packed form, read as an m x n matrix.
void BiasStrides(const GemmLayer& g, int64_t* row_stride, int64_t* col_stride);

// Calls fn(i, inner_pool) for every output matrix i: on the pool's threads, one matrix each
// (inner_pool null), when there are enough matrices to go round; otherwise one after the other with
// the whole pool for each. Not from inside a ParallelFor on `pool`.
void ForEachGemm(const GemmLayer& g, ThreadPool* pool,
                 const std::function<void(int64_t, ThreadPool*)>& fn);

// Checks the packed-weight and activation sizes a kernel is about to read.
Status CheckGemmInputs(const GemmLayer& g, const backend::KernelIo& io, size_t packed_b_floats);

}  // namespace refit::cpu
