// Internal to backend/cpu: the micro-kernel interface between the ISA-neutral GEMM driver
// (gemm_packed.cc) and the ISA-specific kernels (gemm_kernels_*.cc, built with their own -m flags).
//
// Keep this header free of inline functions and templates: anything inline that an ISA file
// instantiates could be merged by the linker into ISA-neutral code and fault on older CPUs.
#pragma once

#include <cstdint>

#include "backend/cpu/gemm_packed.h"

namespace refit::cpu::internal {

struct TileEpilogue {
  bool accumulate;    // add the tile to what C already holds (a later K pass)
  bool last;          // final K pass: add the biases, apply act
  const float* bias;  // NR floats for this tile's columns, or null
  Activation act;
  const float* row_bias = nullptr;  // MR floats for this tile's rows, or null
  // Floats from one vector of a row of C to the next (the kernel's vector width when C's rows are
  // contiguous; GemmPacked's c_vector_stride for a column-blocked C).
  int64_t vector_stride = 0;
};

// Computes one MR x NR tile over `k` steps. `a` is a packed A panel (k groups of MR floats; lda
// ignored) or, for a direct-A kernel, the tile's first row of A in place (MR rows, stride lda).
// `b` holds k rows of NR floats, ldb floats apart: a packed B panel (ldb == NR) or, for a GEMM that
// reads B in place, the tile's columns of B itself; c points at the tile's top-left element with
// row stride ldc and epilogue.vector_stride floats from one vector of a row to the next; all
// MR x NR elements are read (when accumulating) and written.
using MicroKernelFn = void (*)(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                               float* c, int64_t ldc, const TileEpilogue& epilogue);

// Null when this build has no kernel of that shape. Returning a pointer executes no ISA code.
MicroKernelFn FindAvx2MicroKernel(int mr, int nr, bool direct_a);
MicroKernelFn FindAvx512MicroKernel(int mr, int nr, bool direct_a);

// gemm_gemv (gemm_gemv.cc): rows [0, m) of A (m = 1..4, row stride lda) times W^T for W's rows
// [j0, j1), W row-major [n, k] as stored: y[i * ldy + j] = sum_p a[i * lda + p] * w[j * k + p].
// Four rows of W at a time, each read once for the m rows of A; the tail of k masked.
void GemvRowsAvx512(int m, int64_t k, const float* a, int64_t lda, const float* w, int64_t j0,
                    int64_t j1, float* y, int64_t ldy);

}  // namespace refit::cpu::internal
