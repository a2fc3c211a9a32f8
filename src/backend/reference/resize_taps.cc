#include "backend/reference/resize_taps.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace refit::reference {
namespace {

// Index of the nearest input position to non-integer x (integers are handled by the caller).
int64_t NearestIndex(NearestMode mode, double x, double scale) {
  const double fl = std::floor(x);
  const double ratio = x - fl;
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      return int64_t(ratio <= 0.5 ? fl : fl + 1);
    case NearestMode::kRoundPreferCeil:
      return int64_t(ratio < 0.5 ? fl : fl + 1);
    case NearestMode::kFloor:
      return int64_t(fl);
    case NearestMode::kCeil:
      return int64_t(fl + 1);
    case NearestMode::kLegacy:
      return int64_t(scale < 1.0 ? fl + 1 : fl);
  }
  return int64_t(fl);
}

std::array<double, 4> CubicCoeffs(double r, double a) {
  const double s = 1 - r;
  return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
          ((a + 2) * r - (a + 3)) * r * r + 1, ((a + 2) * s - (a + 3)) * s * s + 1,
          ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
}

}  // namespace

double OriginalCoordinate(CoordMode coord, const AxisGeometry& g, int64_t x_int) {
  const double x = double(x_int);
  const double in_len = double(g.in_len);
  switch (coord) {
    case CoordMode::kHalfPixel:
      return (x + 0.5) / g.scale - 0.5;
    case CoordMode::kPytorchHalfPixel:
      return g.out_len_f > 1 ? (x + 0.5) / g.scale - 0.5 : 0.0;
    case CoordMode::kAlignCorners:
      return g.out_len_f == 1 ? 0.0 : x * (in_len - 1) / (g.out_len_f - 1);
    case CoordMode::kAsymmetric:
      return x / g.scale;
    case CoordMode::kTfHalfPixelForNn:
      return (x + 0.5) / g.scale;
    case CoordMode::kTfCropAndResize: {
      const double span = (g.roi_end - g.roi_start) * (in_len - 1);
      const double start = g.roi_start * (in_len - 1);
      return g.out_len_f == 1 ? start + span / 2 : start + x * span / (g.out_len_f - 1);
    }
  }
  return x;
}

AxisTaps BuildAxisTaps(const ResizeOptions& options, const AxisGeometry& g) {
  AxisTaps t;
  t.taps = options.mode == ResizeMode::kNearest ? 1 : options.mode == ResizeMode::kLinear ? 2 : 4;
  const size_t n = size_t(g.out_len);
  t.index.assign(n * size_t(t.taps), 0);
  t.weight.assign(n * size_t(t.taps), 0.0);
  t.outside.assign(n, 0);
  const int64_t last = g.in_len - 1;
  for (int64_t o = 0; o < g.out_len; ++o) {
    const double x = OriginalCoordinate(options.coord, g, o);
    int64_t* idx = &t.index[size_t(o) * t.taps];
    double* w = &t.weight[size_t(o) * t.taps];
    if (options.coord == CoordMode::kTfCropAndResize && (x < 0 || x > double(last))) {
      t.outside[size_t(o)] = 1;
      continue;
    }
    if (options.mode == ResizeMode::kNearest) {
      const int64_t i = x == std::floor(x) ? int64_t(x) : NearestIndex(options.nearest, x, g.scale);
      idx[0] = std::clamp<int64_t>(i, 0, last);
      w[0] = 1.0;
      continue;
    }
    // The taps straddle x; an integer x sits on the right of its pair with ratio 1, as in the
    // reference implementation (which matters for exclude_outside at the borders).
    int64_t i0 = int64_t(std::floor(x));
    double r = x - double(i0);
    if (r == 0) {
      --i0;
      r = 1;
    }
    int64_t first = i0;
    if (options.mode == ResizeMode::kLinear) {
      w[0] = 1 - r;
      w[1] = r;
    } else {
      const std::array<double, 4> c = CubicCoeffs(r, options.cubic_coeff_a);
      std::copy(c.begin(), c.end(), w);
      first = i0 - 1;
    }
    double sum = 0;
    for (int k = 0; k < t.taps; ++k) {
      const int64_t i = first + k;
      if (options.exclude_outside && (i < 0 || i > last)) w[k] = 0;
      sum += w[k];
      idx[k] = std::clamp<int64_t>(i, 0, last);
    }
    if (options.exclude_outside && sum != 0) {
      for (int k = 0; k < t.taps; ++k) w[k] /= sum;
    }
  }
  t.identity = g.in_len == g.out_len;
  for (int64_t o = 0; o < g.out_len && t.identity; ++o) {
    double on_o = 0;
    for (int k = 0; k < t.taps; ++k) {
      const size_t j = size_t(o) * t.taps + k;
      if (t.index[j] == o) {
        on_o += t.weight[j];
      } else if (t.weight[j] != 0) {
        t.identity = false;
      }
    }
    if (on_o != 1.0 || t.outside[size_t(o)]) t.identity = false;
  }
  return t;
}

}  // namespace refit::reference
