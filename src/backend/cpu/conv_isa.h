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
void DepthwisePlaneAvx512(const DepthwisePlane& p);  // conv_depthwise_avx512.cc

// Depthwise convolution of L consecutive channels at once (L = 8: conv_depthwise_c8_avx2.cc,
// L = 16: conv_depthwise_c16_avx512.cc), vectorised across them. Relu and Clip are applied in the
// kernel (act kRelu / kClip); anything else is the caller's.
constexpr int kMaxDepthwiseBlockTaps = 64;
constexpr int64_t kDepthwiseBlockRowSlack = 8;
struct DepthwiseBlock {
  const float* x;  // the first channel's in_h x in_w plane; channel j at x + j * in_plane
  int64_t in_plane, in_h, in_w, pad_top, pad_left;
  const float* weights;  // the first channel's kernel_h * kernel_w taps; channels follow densely
  const float* bias;     // L values, or null
  float* y;              // the first channel's out_h x out_w plane; channel j at y + j * out_plane
  int64_t out_plane, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w;
  // Per tap (ky, kx): its offset in `padded` from a window's first pixel, in floats
  // (L * (ky * dilation_h * (pad_cols + kDepthwiseBlockRowSlack) + kx * dilation_w)).
  const int64_t* tap_offsets;
  ir::ActivationKind act;
  float clip_lo, clip_hi;
  // Output rows go by strips of strip_rows. Scratch, 64-byte aligned: `padded`, the padded input
  // of a strip ((strip_rows - 1) * stride_h + window_rows rows of pad_cols pixels of L floats and
  // kDepthwiseBlockRowSlack pixels of slack (written, never read),
  // where window_rows = (kernel_h - 1) * dilation_h + 1 and pad_cols = (out_w - 1) * stride_w +
  // (kernel_w - 1) * dilation_w + 1), and `out_buf`, its outputs (strip_rows * out_w * L floats).
  int64_t strip_rows, window_rows, pad_cols;
  float* padded;
  float* out_buf;
  // Channel-blocked activations (backend::Tactic::InputBlock): x_blocked, x is the block's
  // in_h x in_w x L plane (in_plane unused); y_blocked, y is its out_h x out_w x L plane (out_plane
  // unused), 64-byte aligned, and the strips are convolved straight into it (out_buf unused).
  bool x_blocked = false, y_blocked = false;
  // The output rows computed, [row_begin, row_end) (row_end 0: to out_h).
  int64_t row_begin = 0, row_end = 0;
};
void DepthwiseBlock8Avx2(const DepthwiseBlock& b);
void DepthwiseBlock16Avx512(const DepthwiseBlock& b);

// Direct convolution of a few input channels (conv_direct.cc): one output row of CH output
// channels, by register tiles of 8 channels x 32 pixels or 16 channels x 16 pixels, each tap's
// inputs one vector load from the phase planes (conv_im2col.h) shared by the tile's channels. Loads
// and stores are masked at the row's end, so nothing past the planes or the row is touched.
struct DirectConvRow {
  const float* in;         // the phase planes, advanced to output row oy's first window row
  const int64_t* tap_off;  // per tap (c, ky, kx): its offset from `in` (Im2ColRowOffsets)
  int64_t taps;
  const float* w;     // taps x CH weights of this channel block (zeros past the valid channels)
  const float* bias;  // CH values (zeros past the valid channels)
  float* y;           // the block's first channel's output row oy; channel j at y + j * out_plane
  int64_t out_plane, out_w;
  int64_t channels;        // valid channels of the block, 1..CH
  ir::ActivationKind act;  // kRelu and kClip are applied here; anything else is the caller's
  float clip_lo, clip_hi;
};
void DirectConvRow8Avx512(const DirectConvRow& r);
void DirectConvRow16Avx512(const DirectConvRow& r);

// Direct convolution on channel-blocked activations (conv_nchwc.cc): one output row of `blocks`
// blocks of 16 output channels, by register tiles of NB blocks x OW output pixels that accumulate
// every tap and input channel before they are stored once (with bias and Relu/Clip). The input is
// NCHW16c (in_block 16) or NCHW (in_block 1: each channel a block of its own); the output NCHW16c
// (a plain output goes through a blocked row, NchwcRowToPlanesAvx512). Pixels whose window leaves
// the input go one at a time over their valid taps; the others by whole tiles. Nothing outside
// the input or the row is read or written.
struct NchwcConvRow {
  const float* in;              // image n's input (NCHW16c or NCHW)
  int64_t in_block, in_blocks;  // 16 or 1; in_c / in_block
  int64_t in_h, in_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  // The row's first output block's weights, [in_blocks][kernel_h][kernel_w][in_block][16];
  // block b's at w + b * w_block_stride.
  const float* w;
  int64_t w_block_stride;
  const float* bias;  // 16 * blocks values, or null
  // Output row oy of the first block, NCHW16c: pixel j's 16 channels at y + 16 j, block b at
  // y + b * y_block_stride.
  float* y;
  // A fused residual added before the activation, laid out as y (the same offsets), or null.
  const float* z;
  int64_t y_block_stride;
  int64_t oy, out_w;
  int64_t blocks;          // 1..NB of the kernel
  ir::ActivationKind act;  // kRelu and kClip are applied here; anything else is the caller's
  float clip_lo, clip_hi;
};
// NB x OW = 4 x 6 and 2 x 12 (24 accumulators each).
void NchwcConvRow4x6Avx512(const NchwcConvRow& r);
void NchwcConvRow2x12Avx512(const NchwcConvRow& r);
// An output row of `blocks` blocks written NCHW16c into `row` (block b's out_w pixels of 16
// channels at row + b * 16 * out_w), to NCHW: channel k of block b at y + (16 b + k) * out_plane,
// out_w floats. 16 x 16 transposes in registers (unpack and shuffle), whole-vector stores but for
// a masked last one per channel.
void NchwcRowToPlanesAvx512(const float* row, int64_t blocks, int64_t out_w, float* y,
                            int64_t out_plane);
// The inverse: channel k of block b at y + (16 b + k) * out_plane to `row` NCHW16c, out_w pixels
// taken every `step` columns (y + (16 b + k) * out_plane + step * j for pixel j).
void NchwcPlanesToRowAvx512(const float* y, int64_t blocks, int64_t out_w, int64_t out_plane,
                            int64_t step, float* row);

// Writes one packed-B panel (gemm_packed.h layout: k rows of nr floats) whose `cols` columns are
// `runs` runs of consecutive source floats: run r starts at column dst_off[r] (dst_off[0] == 0,
// increasing) and row i of it reads src[r] + row_off[i]. Columns past `cols` are zeroed. Reads
// may run up to nr floats past a run's end (the caller leaves that much slack); nr % 8 == 0.
void PackRunsPanelAvx2(const float* const* src, const int64_t* dst_off, int runs,
                       const int64_t* row_off, int64_t k, int64_t nr, int64_t cols, float* panel);

// Winograd F(r x r, 3x3) (conv_winograd.cc) for r = 2 and r = 4, one channel over a chunk of tile
// rows at a time. Tile (ty, tx) makes outputs [r ty, r ty + r) x [r tx, r tx + r) from padded
// input [r ty, r ty + r + 2) x [r tx, r tx + r + 2); a chunk's tiles are numbered
// t = ty * tiles_w + tx from its first tile row. Transform position xi = (r + 2) i + j (16 or 36
// of them) has its own matrix. The "2" functions are F(2x2, 3x3), the "4" ones F(4x4, 3x3).

// V_xi = B^T d B of every tile of the chunk, for channel `c`: V_xi is v + xi * v_stride, in
// gemm_packed.h's packed-B layout (k = channels rows of nr-float panels, one column per tile).
// Whole panels are written: the columns of the last panel past the chunk's last tile get
// unspecified values (the GEMM reads no further than its n). `plane` is the channel's phase plane
// (stride r, PhasePlaneFill) whose padded row 0 is the chunk's first input row; phase_len >=
// tiles_w + 9. `stage`: scratch of (r + 2)^2 rows of stage_len floats, stage_len >= the chunk's
// tiles rounded up to nr, plus 8 (WinogradStageLen); its contents need not be initialised.
struct WinogradInput {
  const float* plane;
  int64_t phase_len;
  int64_t tile_rows, tiles_w;
  int64_t c, channels, nr;
  int64_t v_stride;
  float* v;
  float* stage;
  int64_t stage_len;
};
inline int64_t WinogradStageLen(int64_t tiles, int64_t nr) {
  return (tiles + nr - 1) / nr * nr + 8;
}
void WinogradInput2Avx2(const WinogradInput& in);
void WinogradInput4Avx2(const WinogradInput& in);

// Y = A^T M A + bias for one output channel: M_xi's row for the channel is m + xi * m_stride, one
// float per tile; reads may run 8 floats past the chunk's last tile. Writes output rows [0,
// out_rows) (at most r * tile_rows) of `y` (out_w floats apart), with Relu or Clip applied when
// `act` names them (anything else is the caller's).
struct WinogradOutput {
  const float* m;
  int64_t m_stride;
  int64_t tile_rows, tiles_w;
  float bias;
  ir::ActivationKind act;
  float clip_lo, clip_hi;
  float* y;
  int64_t out_rows, out_w;
};
void WinogradOutput2Avx2(const WinogradOutput& out);
void WinogradOutput4Avx2(const WinogradOutput& out);

// The packed weight: u[xi * c_out * c_in + o * c_in + c] = (G g G^T)[i][j] for the filter
// g = w[o, c] ([c_out, c_in, 3, 3]) times row_scale[o] (1 when null), the product rounded first.
// Returns false when a scaled filter value is not finite (u is then incomplete).
bool WinogradPack2Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                       float* u);
bool WinogradPack4Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                       float* u);
// The same filters' transforms for the blocked tactic: per position xi, U_xi^T [c_in x c_out] in
// gemm_packed.h's packed-B layout for a kernel of `nr` columns (nr % 8 == 0, c_out % 16 == 0),
// position xi's at u + xi * b_stride (b_stride >= PackedBSize). Every float up to P * b_stride is
// written (zeros past the last output channel). Returns false when a scaled filter value is not
// finite.
bool WinogradPackB2Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                        int64_t nr, int64_t b_stride, float* u);
bool WinogradPackB4Avx2(const float* w, int64_t c_out, int64_t c_in, const float* row_scale,
                        int64_t nr, int64_t b_stride, float* u);

// Winograd F(r x r, 3x3) on channel-blocked activations (conv_winograd_blocked.cc), r = 2 or 4,
// 16 channels per vector (AVX-512). The roles of the plain transforms' GEMM swap: per position xi,
// M_xi^T [tiles x out_c] = V_xi^T [tiles x in_c] * U_xi^T, the activation side read in place as A
// and the weight packed as B. Tiles are numbered t = ty * tiles_w + tx from the chunk's first tile
// row ty0; tile (ty0 + ty, tx) reads padded input [r (ty0 + ty), + r + 2) x [r tx, + r + 2) (zeros
// outside the image) and writes outputs [r (ty0 + ty), + r) x [r tx, + r) that lie in the image.

// V_xi^T of one block of 16 input channels for every tile of the chunk: tile t's 16 values at
// v + xi * v_stride + t * ldv.
struct WinogradBlockedInput {
  const float* x;  // the block's in_h x in_w x 16 plane of image n (NCHW16c)
  int64_t in_h, in_w, pad_top, pad_left;
  int64_t ty0, tile_rows, tiles_w;
  float* v;
  int64_t v_stride, ldv;
};
void WinogradBlockedInput2Avx512(const WinogradBlockedInput& in);
void WinogradBlockedInput4Avx512(const WinogradBlockedInput& in);

// Y = A^T M A + bias (+ z) of one block of 16 output channels for every tile of the chunk, with
// Relu or Clip applied when `act` names them (anything else is the caller's, after the residual).
// Tile t's M_xi values at m + xi * m_stride + t * ldm.
struct WinogradBlockedOutput {
  const float* m;
  int64_t m_stride, ldm;
  int64_t ty0, tile_rows, tiles_w;
  const float* bias;  // 16 values, or null
  const float* z;     // a fused residual laid out as y, or null
  ir::ActivationKind act;
  float clip_lo, clip_hi;
  float* y;  // the block's out_h x out_w x 16 plane of image n (NCHW16c)
  int64_t out_h, out_w;
};
void WinogradBlockedOutput2Avx512(const WinogradBlockedOutput& out);
void WinogradBlockedOutput4Avx512(const WinogradBlockedOutput& out);

}  // namespace refit::cpu::internal
