// The phase-plane fill (conv_im2col.h) against its definition, over strides, paddings and widths
// that put the row's ends anywhere in a vector, and with a guard band after the planes that must
// stay untouched.
#include "backend/cpu/conv_im2col.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace refit::cpu {
namespace {

constexpr float kGuard = -7.5f;

// Padded row r, phase q, index i holds input (r - pad_top, stride_w * i + q - pad_left), zero
// outside the input.
float Expected(const ConvParams& p, const std::vector<float>& x, int64_t c, int64_t r, int64_t q,
               int64_t i) {
  const int64_t iy = r - p.pad_top, ix = p.stride_w * i + q - p.pad_left;
  if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) return 0.0f;
  return x[size_t((c * p.in_h + iy) * p.in_w + ix)];
}

void CheckFill(int64_t in_h, int64_t in_w, int64_t stride, int64_t kernel, int64_t pad_top,
               int64_t pad_left, int64_t pad_right) {
  SCOPED_TRACE("in " + std::to_string(in_h) + "x" + std::to_string(in_w) + " stride " +
               std::to_string(stride) + " kernel " + std::to_string(kernel) + " pads " +
               std::to_string(pad_top) + "," + std::to_string(pad_left) + "," +
               std::to_string(pad_right));
  ConvParams p;
  p.batch = 1;
  p.in_c = p.out_c = p.group = 2;
  p.in_h = in_h;
  p.in_w = in_w;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = pad_top;
  p.pad_left = pad_left;
  p.pad_right = pad_right;
  p.out_h = (in_h + 2 * pad_top - kernel) / stride + 1;
  p.out_w = (in_w + pad_left + pad_right - kernel) / stride + 1;
  ASSERT_GT(p.out_h, 0);
  ASSERT_GT(p.out_w, 0);
  const PhaseLayout layout(p);
  std::vector<float> x(size_t(p.in_c * p.in_size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + float(i);
  // Every float of the planes starts as a guard value: the fill must write each one it owns.
  const int64_t guard = 64;
  std::vector<float> planes(size_t(p.in_c * layout.plane_floats + guard), kGuard);
  FillPhasePlanes(p, layout, x.data(), 0, p.in_c, planes.data());
  const int64_t row_len = stride * layout.phase_len;
  for (int64_t c = 0; c < p.in_c; ++c) {
    const float* plane = planes.data() + c * layout.plane_floats;
    for (int64_t r = 0; r < layout.rows; ++r) {
      for (int64_t q = 0; q < stride; ++q) {
        for (int64_t i = 0; i < layout.phase_len; ++i) {
          const float got = plane[r * row_len + q * layout.phase_len + i];
          ASSERT_EQ(got, Expected(p, x, c, r, q, i))
              << "channel " << c << " row " << r << " phase " << q << " index " << i;
        }
      }
    }
    // Past the rows, up to the next plane: the fill's business only within its rows.
    for (int64_t k = layout.rows * row_len; k < layout.plane_floats; ++k) {
      ASSERT_EQ(plane[k], kGuard) << "channel " << c << " wrote past its rows at " << k;
    }
  }
  for (int64_t k = 0; k < guard; ++k) {
    ASSERT_EQ(planes[size_t(p.in_c * layout.plane_floats + k)], kGuard) << "guard " << k;
  }
}

TEST(PhasePlaneFillTest, MatchesDefinition) {
  for (int64_t stride : {1, 2, 3, 4}) {
    for (int64_t in_w : {1, 5, 8, 13, 16, 17, 31, 40, 57}) {
      for (int64_t pad_left : {0, 1, 3, 9}) {
        for (int64_t pad_right : {0, 2}) {
          if (in_w + pad_left + pad_right < 3) continue;
          CheckFill(5, in_w, stride, 3, 1, pad_left, pad_right);
        }
      }
    }
  }
  // A tall kernel over a short input: rows that are all padding.
  CheckFill(2, 20, 2, 5, 3, 2, 2);
  CheckFill(2, 20, 4, 5, 3, 2, 2);
}

}  // namespace
}  // namespace refit::cpu
