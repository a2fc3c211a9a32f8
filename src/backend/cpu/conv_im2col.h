// Internal to backend/cpu: im2col for the convolution tactics. The im2col matrix of one group of
// one image has col_rows() rows (channel, ky, kx) and out_size() columns (oy, ox); entry
// (row, column) is the input that tap reads for that output, 0 in the padding.
//
// The GEMM tactic builds it straight in GemmPacked's packed-B layout from phase planes
// (conv_isa.h): a zero-padded copy of each input channel, split by column stride, in which every
// tap's inputs for consecutive outputs of one output row are consecutive floats. A panel row is
// then one or a few unchecked vector copies.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/conv_params.h"

namespace refit::cpu {

// The phase plane of one input channel for p's windows. phase_len covers whole vectors of 8
// outputs per row (the depthwise kernels' last, partial vector).
struct PhaseLayout {
  int64_t rows = 0, phase_len = 0;
  int64_t plane_floats = 0;  // rows * stride_w * phase_len, rounded up to 16 floats (64 bytes)
  explicit PhaseLayout(const ConvParams& p);
};

// Fills the phase planes of channels [c_begin, c_end) of `x` (dense in_h x in_w planes) into
// planes + c * plane_floats. AVX2 code when this CPU has it.
void FillPhasePlanes(const ConvParams& p, const PhaseLayout& layout, const float* x,
                     int64_t c_begin, int64_t c_end, float* planes);

// Per im2col row (channel, ky, kx): its offset in the phase planes relative to a run's start.
std::vector<int64_t> Im2ColRowOffsets(const ConvParams& p, const PhaseLayout& layout);

// Writes panels [panel_begin, panel_end) of the packed-B im2col matrix from the phase planes of
// one group's channels. `row_off` from Im2ColRowOffsets. The planes need nr floats of slack after
// the last one (reads may overrun a run's end). nr % 8 == 0, nr <= 64.
void PackIm2ColPanels(const ConvParams& p, const PhaseLayout& layout, const float* planes,
                      const int64_t* row_off, int64_t nr, int64_t panel_begin, int64_t panel_end,
                      float* packed);

// The same for a pointwise (1x1, stride 1, unpadded) convolution, whose im2col matrix is the
// group's input itself (in_c_per_group x out_size): `x` is the group's first channel, `row_off`
// from PointwiseRowOffsets; no slack needed.
std::vector<int64_t> PointwiseRowOffsets(const ConvParams& p);
void PackPointwisePanels(const ConvParams& p, const float* x, const int64_t* row_off, int64_t nr,
                         int64_t panel_begin, int64_t panel_end, float* packed);

// Writes rows [row_begin, row_end) of the im2col matrix, row-major with out_size() columns.
void Im2ColRows(const ConvParams& p, const float* x, int64_t row_begin, int64_t row_end,
                float* col);

}  // namespace refit::cpu
