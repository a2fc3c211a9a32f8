// Internal to backend/cpu: the interface between the ISA-neutral convolution tactics and their
// AVX2 kernels (conv_*_avx2.cc, built with -mavx2 -mfma). Like gemm_microkernel.h, this header
// holds no inline functions or templates: inline code an ISA file instantiates could be merged by
// the linker into ISA-neutral code and fault on older CPUs.
#pragma once

#include <cstdint>

#include "ir/fused_ops.h"

namespace refit::cpu::internal {

// y[r * ld + j] = act(y[r * ld + j] + bias[r]) for r < rows, j < cols; bias may be null.
// Accuracy: within a few ulp-scaled 1e-7 of ir::ApplyActivation (exp/erf are polynomial).
void BiasActivationAvx2(ir::ActivationKind kind, float alpha, float beta, const float* bias,
                        float* y, int64_t rows, int64_t cols, int64_t ld);

// One channel of a depthwise convolution over a prepared phase plane (see PhasePlaneFill).
struct DepthwisePlane {
  const float* plane;
  int64_t phase_len;     // floats per phase; a padded row is stride_w * phase_len floats
  const int64_t* taps;   // per tap (ky, kx): its offset in the plane from an output's first input
  const float* weights;  // kernel_h * kernel_w
  float bias;
  float* out;  // out_h x out_w, dense
  int64_t out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  // Relu and Clip are applied in the kernel (kind kRelu / kClip); anything else is the caller's.
  ir::ActivationKind act;
  float clip_lo, clip_hi;
};

// Fills the phase plane of one input channel (in_h x in_w, dense): padded row r holds input row
// r - pad_top (zeros outside), padded column c (input column c - pad_left, zeros outside) sits at
// phase c % stride_w, index c / stride_w, so any tap of a strided, dilated window reads
// consecutive outputs' inputs from consecutive floats. `rows` rows are written.
struct PhasePlaneFill {
  const float* in;
  int64_t in_h, in_w, pad_top, pad_left;
  int64_t rows, phase_len, stride_w;
  float* plane;
};

void PhasePlaneFillAvx2(const PhasePlaneFill& f);
// DepthwisePlane::taps for a layer (the same for every channel): computed once per kernel.
void DepthwiseTapOffsets(int64_t kernel_h, int64_t kernel_w, int64_t dilation_h, int64_t dilation_w,
                         int64_t stride_w, int64_t phase_len, int64_t* out);
void DepthwisePlaneAvx2(const DepthwisePlane& p);

// Writes one packed-B panel (gemm_packed.h layout: k rows of nr floats) whose `cols` columns are
// `runs` runs of consecutive source floats: run r starts at column dst_off[r] (dst_off[0] == 0,
// increasing) and row i of it reads src[r] + row_off[i]. Columns past `cols` are zeroed. Reads
// may run up to nr floats past a run's end (the caller leaves that much slack); nr % 8 == 0.
void PackRunsPanelAvx2(const float* const* src, const int64_t* dst_off, int runs,
                       const int64_t* row_off, int64_t k, int64_t nr, int64_t cols, float* panel);

}  // namespace refit::cpu::internal
