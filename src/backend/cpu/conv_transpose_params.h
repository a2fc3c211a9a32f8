// Internal to backend/cpu: the geometry of a 2-D NCHW f32 ConvTranspose layer, parsed once from
// the LayerDesc with ONNX's rules for output_padding, output_shape and auto_pad (the reference
// kernel's, ops_conv_transpose.cc).
#pragma once

#include <cstdint>
#include <optional>

#include "backend/backend.h"
#include "ir/fused_ops.h"

namespace refit::cpu {

struct ConvTransposeParams {
  int64_t batch = 0;
  int64_t in_c = 0, in_h = 0, in_w = 0;     // C and X's spatial size
  int64_t out_c = 0, out_h = 0, out_w = 0;  // M = W[1] * group and the output's spatial size
  int64_t group = 1;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  // Input pixel (iy, ix) and tap (ky, kx) land on output (iy * stride_h + ky * dilation_h -
  // pad_top, ...). Negative when output_shape asks for more than the full output.
  int64_t pad_top = 0, pad_left = 0;
  bool has_bias = false;
  ir::FusedActivation act;

  int64_t in_c_per_group() const { return in_c / group; }
  int64_t out_c_per_group() const { return out_c / group; }
  int64_t in_size() const { return in_h * in_w; }
  int64_t out_size() const { return out_h * out_w; }
  int64_t kernel_size() const { return kernel_h * kernel_w; }
  // Columns of one group's W_g [C/g x (M/g) * kernel_size], the GEMM's N.
  int64_t col_cols() const { return out_c_per_group() * kernel_size(); }
};

// The layer's geometry when it is a ConvTranspose the CPU tactics take: rank-4 f32 X, W a rank-4
// f32 weight slot [C, M/group, kH, kW], B absent or an f32 weight slot [M], valid attributes and
// fused activation, and a planned output shape that matches. nullopt otherwise.
std::optional<ConvTransposeParams> ParseConvTransposeLayer(const backend::LayerDesc& layer);

}  // namespace refit::cpu
