// Internal to backend/cpu: the geometry of a 2-D NCHW f32 Conv layer, parsed once from the
// LayerDesc and shared by every convolution tactic. A 1-D Conv (NCW) is the 2-D one with height 1
// (in_h = kernel_h = out_h = 1): its activations and weights have the same bytes either way.
#pragma once

#include <cstdint>
#include <optional>

#include "backend/backend.h"
#include "ir/fused_ops.h"

namespace refit::cpu {

struct ConvParams {
  int64_t batch = 0;
  int64_t in_c = 0, in_h = 0, in_w = 0;
  int64_t out_c = 0, out_h = 0, out_w = 0;
  int64_t group = 1;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool has_bias = false;
  // A fused residual: input 3 (ir::kResidualInput), an activation of the output's shape, is added
  // before `act`: y = act(conv + bias + z).
  bool residual = false;
  ir::FusedActivation act;

  int64_t in_c_per_group() const { return in_c / group; }
  int64_t out_c_per_group() const { return out_c / group; }
  int64_t in_size() const { return in_h * in_w; }
  int64_t out_size() const { return out_h * out_w; }
  int64_t kernel_size() const { return kernel_h * kernel_w; }
  // Rows of the im2col matrix of one group (Conv): in_c_per_group * kernel_size.
  int64_t col_rows() const { return in_c_per_group() * kernel_size(); }
  // 1x1, stride 1, unpadded: the input already is the im2col matrix.
  bool pointwise() const;
  // One filter per channel: group == in_c == out_c.
  bool depthwise() const { return group == in_c && group == out_c; }
};

// The layer's geometry when it is a Conv the CPU conv tactics take: ONNX Conv, f32 X of rank 4
// (or 3), W a weight slot of the same rank, B absent or a weight slot [M], valid attributes and
// fused activation, and an output shape that matches. nullopt otherwise (the builder then falls
// back).
std::optional<ConvParams> ParseConvLayer(const backend::LayerDesc& layer);

// What a convolution kernel's Run reads and writes: X (input 0), the packed W (input 1), the
// bias (input 2; null when the layer has none) and Y (output 0).
struct ConvOperands {
  const float* x = nullptr;
  const float* w = nullptr;
  const float* bias = nullptr;
  float* y = nullptr;
};
ConvOperands ConvOperandsOf(const backend::KernelIo& io);

}  // namespace refit::cpu
