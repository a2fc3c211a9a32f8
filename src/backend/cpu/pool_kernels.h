// Internal to backend/cpu: 2-D NCHW f32 pooling (tactic_pool.cc), the geometry it precomputes and
// the row kernels it dispatches to (baseline C++ in tactic_pool.cc, AVX2 in pool_avx2.cc).
#pragma once

#include <cstdint>
#include <vector>

namespace refit::cpu::internal {

// Everything about one pooling layer that does not depend on the data, computed at build time.
struct PoolGeometry {
  bool max = false;
  bool global = false;
  bool count_include_pad = false;
  int64_t planes = 0;  // N * C
  int64_t batch = 1;   // N
  int64_t ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pad_top = 0, pad_left = 0;
  // Per output row (h_*) and column (w_*): the kernel taps [lo, hi) inside the input, and the
  // taps inside the padded input (what count_include_pad divides by).
  std::vector<int64_t> h_lo, h_hi, h_padded, w_lo, w_hi, w_padded;
  // Output columns [ow_lo, ow_hi) have every kernel column inside the input.
  int64_t ow_lo = 0, ow_hi = 0;
};

// Most kernel rows a window may have (the row pointers live on the stack).
inline constexpr int64_t kMaxPoolKernelRows = 64;

// Output columns [g.ow_lo, g.ow_hi) of one output row: max, or sum times `scale`, over `nrows`
// input rows (pointers to the first element of each row) and all g.kw columns.
using PoolInteriorFn = void (*)(const PoolGeometry& g, const float* const* rows, int64_t nrows,
                                float scale, float* y_row);
void PoolInteriorAvx2(const PoolGeometry& g, const float* const* rows, int64_t nrows, float scale,
                      float* y_row);

// Channel-blocked pooling (the NCHWc layout of backend::Tactic::InputBlock; block 8 or 16, or for
// the reduction any multiple of 8). PoolBlockedAvx2: output rows [oh0, oh1) of one block plane, x
// an ih x iw x block plane and y an oh x ow x block one; a window with no tap inside the input
// gives lowest() (max) or 0 (average). ReduceBlockedAvx2: y[k] = max, or sum times `scale`, of x[p
// * block + k] over p < pixels (>= 1).
void PoolBlockedAvx2(const PoolGeometry& g, int64_t block, int64_t oh0, int64_t oh1, const float* x,
                     float* y);
void ReduceBlockedAvx2(bool max, const float* x, int64_t pixels, int64_t block, float scale,
                       float* y);

// Max or sum of n contiguous floats (n >= 1).
float ReduceMaxAvx2(const float* x, int64_t n);
float ReduceSumAvx2(const float* x, int64_t n);

}  // namespace refit::cpu::internal
