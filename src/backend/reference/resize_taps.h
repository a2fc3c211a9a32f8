// Per-axis sampling plan of Resize/Upsample: for every output position along one axis, which input
// positions it reads and with what weights. Resize is separable, so a full N-D resize is one such
// plan per axis. The coordinate and weight formulas follow ONNX's reference implementation
// (onnx/backend/test/case/node/resize.py), which produced the node tests.
#pragma once

#include <cstdint>
#include <vector>

namespace refit::reference {

enum class ResizeMode { kNearest, kLinear, kCubic };

enum class CoordMode {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,  // opset 11 only
  kTfCropAndResize,
};

enum class NearestMode {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  kLegacy,  // Upsample and Resize-10: floor when upsampling, ceil when downsampling
};

struct ResizeOptions {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0.0;
};

// One axis of a resize: in_len -> out_len with the given scale. `out_len_f` is the resized length
// the coordinate formulas use: scale * in_len when scales were given (it need not be an integer,
// the reference implementation uses it unrounded), out_len when sizes were.
struct AxisGeometry {
  int64_t in_len = 1;
  int64_t out_len = 1;
  double scale = 1.0;
  double out_len_f = 1.0;
  double roi_start = 0.0;  // tf_crop_and_resize only, normalised coordinates
  double roi_end = 1.0;
};

struct AxisTaps {
  int taps = 1;                  // per output position: 1 (nearest), 2 (linear) or 4 (cubic)
  std::vector<int64_t> index;    // out_len * taps input positions, clamped to [0, in_len)
  std::vector<double> weight;    // out_len * taps weights
  std::vector<uint8_t> outside;  // out_len flags: take extrapolation_value instead
  bool identity = false;         // output position o is exactly input position o, for every o
};

// The position in the input that output position x maps to.
double OriginalCoordinate(CoordMode coord, const AxisGeometry& g, int64_t x);

AxisTaps BuildAxisTaps(const ResizeOptions& options, const AxisGeometry& g);

}  // namespace refit::reference
