// Internal to backend/cpu: the convolution tactic families. tactic_conv.cc parses the layer once
// (conv_params.h) and hands the geometry to each family, best guess first.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/activation_block.h"
#include "backend/cpu/conv_params.h"
#include "backend/cpu/conv_transpose_params.h"
#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {

// The non-plain (input, output) block pairs a convolution with these parameters may be listed
// with: ActivationBlock() where the channel counts are multiples of it.
std::vector<std::pair<int, int>> BlockedIoPairs(const ConvParams& p);

// "conv_gemm/<gemm kernel>": fused im2col + pack into GemmPacked's B layout, our micro-kernels.
void AddConvGemmTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out);
// conv_gemm_t, conv_winograd and conv_transpose_gemm list the kernels of the machine's best ISA
// for tuning (tuning time stays bounded); `every_isa` lists every ISA the machine runs, so an
// engine tuned on a machine with fewer features (AVX2) loads on one with more (AVX-512).

// "conv_gemm_t/<gemm kernel>": the transposed GEMM [HW x M] = im2row(X) * W^T with W packed once;
// for small spatial sizes with many channels (conv_gemm_t.cc).
void AddConvGemmTTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                         bool every_isa = false);
// "conv_direct/avx512_c8", "conv_direct/avx512_c16": direct convolution by output rows and blocks
// of 8 or 16 output channels, for ungrouped layers of at most 16 input channels (a CNN's stem;
// conv_direct.cc). AVX-512 only.
void AddConvDirectTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out);
// "conv_nchwc/avx512_{4x6,2x12}[/in16c][_out16c]": direct convolution by register tiles of
// (blocks of 16 output channels) x (output pixels), on NCHW16c or plain activations, for ungrouped
// layers whose output channels are a multiple of 16 (conv_nchwc.cc). AVX-512 only.
void AddConvNchwcTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out);
// "conv_depthwise/{scalar,avx2,avx512,avx2_c8,avx512_c16}": direct kernels for group == C == M
// (conv_depthwise.cc); the blocked kernel whose channel block is ActivationBlock() also with
// channel-blocked input and/or output (BlockedIoSuffix).
void AddConvDepthwiseTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out);
// "conv_winograd/<gemm kernel>": Winograd F(2x2, 3x3) for 3x3 stride-1 ungrouped convolutions,
// the weight packed as its 16 transforms (conv_winograd.cc).
void AddConvWinogradTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                            bool every_isa = false);
// "conv_winograd/<gemm kernel>/in16c_out16c": the same on NCHW16c activations (AVX-512), channels
// a multiple of 16, a fused residual added in the output transform (conv_winograd_blocked.cc).
void AddConvWinogradBlockedTactics(const backend::LayerDesc& layer, const ConvParams& p,
                                   TacticList* out, bool every_isa = false);
// "conv_dnnl", "conv_dnnl/blocked", "conv_dnnl/blocked_oc{2,4}": oneDNN convolution forward
// inference (conv_dnnl.cc); with `name`, only that variant.
void AddConvDnnlTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                        std::string_view name = {});
// "conv_openblas": im2col + cblas_sgemm.
void AddConvOpenBlasTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out);
// A Conv with a fused residual on `inner`, a tactic listed for the layer without its residual and
// activation: `inner` convolves, then one pass adds the residual (input 3, read in the output's
// layout) and applies `act` (conv_residual.cc). Same name, weights and blocks as `inner`.
std::unique_ptr<backend::Tactic> WithResidual(std::unique_ptr<backend::Tactic> inner,
                                              const ir::FusedActivation& act);
// "conv_transpose_gemm/<gemm kernel>": ConvTranspose as colsT = X^T * W (W packed once) plus
// col2im (conv_transpose_gemm.cc).
void AddConvTransposeGemmTactics(const backend::LayerDesc& layer, const ConvTransposeParams& p,
                                 TacticList* out, bool every_isa = false);

}  // namespace refit::cpu
