// Internal to backend/cpu: the block interpreter behind the element-wise tactics
// (tactic_eltwise.cc, ISA-neutral driver; eltwise_block_avx2.cc, the AVX2 runner) and the
// row kernels of the normalisation tactics (tactic_norm.cc, norm_rows_avx2.cc).
//
// Keep this header free of inline functions and templates (see gemm_microkernel.h): ISA files
// include it.
#pragma once

#include <cstdint>

namespace refit::cpu::internal {

// Elements per block: every intermediate result of a program lives in a block-sized buffer.
constexpr int64_t kEwBlock = 256;
// Limits that bound the runner's stack use.
constexpr int kEwMaxValues = 64;
constexpr int kEwMaxInstructions = 24;

// One instruction: ir::EwOp as int, operand value ids (-1: none).
struct EwCode {
  int32_t op, a, b, c;
};

// A value seen by one block: `n` contiguous floats, or one float repeated (scalar).
struct EwOperand {
  const float* p;
  bool scalar;
};

// Computes one instruction over n elements when a runner has no vector code for it.
using EwScalarInstrFn = void (*)(const EwCode& code, const EwOperand& a, const EwOperand& b,
                                 const EwOperand& c, float* dst, int64_t n);

struct EwBlock {
  const EwCode* code;
  int num_code;
  EwOperand* values;  // inputs and constants filled in; results are set by the runner
  int first_result;   // value id of the first instruction's result
  float* scratch;     // (num_code - 1) * kEwBlock floats
  float* out;         // n floats: the last instruction's result
  int64_t n;          // <= kEwBlock
  EwScalarInstrFn scalar_instr;
};

using EwBlockFn = void (*)(EwBlock& block);
void RunEwBlockScalar(EwBlock& block);  // tactic_eltwise.cc
void RunEwBlockAvx2(EwBlock& block);    // eltwise_block_avx2.cc
// The whole-program fast path RunEwBlockAvx2 takes for `block`'s code: 0 none, 1 GELU (tanh
// form), 2 GELU (erf form); for tests.
int EwFastPathAvx2(const EwBlock& block);
void EwScalarInstr(const EwCode& code, const EwOperand& a, const EwOperand& b, const EwOperand& c,
                   float* dst, int64_t n);  // tactic_eltwise.cc

// Normalisation row kernels: statistics in double, outputs in float.
struct NormFns {
  // Mean and biased variance of n floats.
  void (*stats)(const float* x, int64_t n, double* mean, double* var);
  // y = (x - mean) * a + b over n floats.
  void (*affine)(const float* x, float* y, int64_t n, float mean, float a, float b);
  // y = (x - mean) * inv * scale[k] + bias[k] (scale / bias may be null: 1 / 0).
  void (*affine_vec)(const float* x, float* y, int64_t n, float mean, float inv, const float* scale,
                     const float* bias);
};
NormFns ScalarNormFns();  // tactic_norm.cc
NormFns Avx2NormFns();    // norm_rows_avx2.cc

}  // namespace refit::cpu::internal
