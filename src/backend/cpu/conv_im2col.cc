#include "backend/cpu/conv_im2col.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/conv_isa.h"
#include "backend/cpu/cpu_features.h"

namespace refit::cpu {
namespace {

// Writes `len` consecutive outputs of output row `oy`, starting at column `ox0`, for tap (ky, kx)
// of channel plane `xc`.
inline void TapRun(const ConvParams& p, const float* xc, int64_t ky, int64_t kx, int64_t oy,
                   int64_t ox0, int64_t len, float* dst) {
  const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
  if (iy < 0 || iy >= p.in_h) {
    std::fill(dst, dst + len, 0.0f);
    return;
  }
  const float* row = xc + iy * p.in_w;
  const int64_t ix0 = ox0 * p.stride_w - p.pad_left + kx * p.dilation_w;
  if (p.stride_w == 1) {
    const int64_t lo = std::clamp<int64_t>(-ix0, 0, len);
    const int64_t hi = std::clamp<int64_t>(p.in_w - ix0, lo, len);
    std::fill(dst, dst + lo, 0.0f);
    if (hi > lo) std::memcpy(dst + lo, row + ix0 + lo, (hi - lo) * sizeof(float));
    std::fill(dst + hi, dst + len, 0.0f);
  } else {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t ix = ix0 + t * p.stride_w;
      dst[t] = uint64_t(ix) < uint64_t(p.in_w) ? row[ix] : 0.0f;
    }
  }
}

}  // namespace

PhaseLayout::PhaseLayout(const ConvParams& p) {
  rows = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1;
  phase_len = (p.out_w + 7) / 8 * 8 + (p.kernel_w - 1) * p.dilation_w / p.stride_w + 1;
  plane_floats = (rows * p.stride_w * phase_len + 15) / 16 * 16;
}

void FillPhasePlanes(const ConvParams& p, const PhaseLayout& layout, const float* x,
                     int64_t c_begin, int64_t c_end, float* planes) {
  const CpuFeatures& cpu = DetectCpuFeatures();
  const bool avx2 = cpu.avx && cpu.avx2 && cpu.fma;
  for (int64_t c = c_begin; c < c_end; ++c) {
    const internal::PhasePlaneFill f{
        x + c * p.in_size(), p.in_h,     p.in_w,
        p.pad_top,           p.pad_left, layout.rows,
        layout.phase_len,    p.stride_w, planes + c * layout.plane_floats};
    if (avx2) {
      internal::PhasePlaneFillAvx2(f);
      continue;
    }
    const int64_t row_len = f.stride_w * f.phase_len;
    for (int64_t r = 0; r < f.rows; ++r) {
      float* dst = f.plane + r * row_len;
      const int64_t iy = r - f.pad_top;
      for (int64_t i = 0; i < f.phase_len; ++i) {
        for (int64_t q = 0; q < f.stride_w; ++q) {
          const int64_t ix = f.stride_w * i + q - f.pad_left;
          const bool inside = iy >= 0 && iy < f.in_h && ix >= 0 && ix < f.in_w;
          dst[q * f.phase_len + i] = inside ? f.in[iy * f.in_w + ix] : 0.0f;
        }
      }
    }
  }
}

std::vector<int64_t> Im2ColRowOffsets(const ConvParams& p, const PhaseLayout& layout) {
  std::vector<int64_t> off;
  off.reserve(size_t(p.col_rows()));
  const int64_t row_len = p.stride_w * layout.phase_len;
  for (int64_t c = 0; c < p.in_c_per_group(); ++c) {
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
        const int64_t col = kx * p.dilation_w;
        off.push_back(c * layout.plane_floats + ky * p.dilation_h * row_len +
                      (col % p.stride_w) * layout.phase_len + col / p.stride_w);
      }
    }
  }
  return off;
}

namespace {

// One panel from runs of consecutive floats (see internal::PackRunsPanelAvx2).
void PackRunsPanel(const float* const* src, const int64_t* dst_off, int runs,
                   const int64_t* row_off, int64_t k, int64_t nr, int64_t cols, float* panel) {
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx && cpu.avx2 && cpu.fma) {
    internal::PackRunsPanelAvx2(src, dst_off, runs, row_off, k, nr, cols, panel);
    return;
  }
  for (int64_t i = 0; i < k; ++i) {
    float* dst = panel + i * nr;
    for (int r = 0; r < runs; ++r) {
      const int64_t end = r + 1 < runs ? dst_off[r + 1] : cols;
      std::copy(src[r] + row_off[i], src[r] + row_off[i] + end - dst_off[r], dst + dst_off[r]);
    }
    std::fill(dst + cols, dst + nr, 0.0f);
  }
}

}  // namespace

void PackIm2ColPanels(const ConvParams& p, const PhaseLayout& layout, const float* planes,
                      const int64_t* row_off, int64_t nr, int64_t panel_begin, int64_t panel_end,
                      float* packed) {
  constexpr int kMaxRuns = 64;
  const int64_t hw = p.out_size(), k = p.col_rows();
  const int64_t row_len = p.stride_w * layout.phase_len;
  for (int64_t q = panel_begin; q < panel_end; ++q) {
    const int64_t j0 = q * nr, cols = std::min(nr, hw - j0);
    // The panel's columns as runs within output rows (one or two unless out_w < nr).
    const float* src[kMaxRuns];
    int64_t dst_off[kMaxRuns];
    int runs = 0;
    for (int64_t j = j0; j < j0 + cols && runs < kMaxRuns;) {
      const int64_t oy = j / p.out_w, ox = j % p.out_w;
      src[runs] = planes + oy * p.stride_h * row_len + ox;
      dst_off[runs++] = j - j0;
      j += std::min(p.out_w - ox, j0 + cols - j);
    }
    PackRunsPanel(src, dst_off, runs, row_off, k, nr, cols, packed + q * k * nr);
  }
}

std::vector<int64_t> PointwiseRowOffsets(const ConvParams& p) {
  std::vector<int64_t> off(size_t(p.in_c_per_group()));
  for (size_t i = 0; i < off.size(); ++i) off[i] = int64_t(i) * p.in_size();
  return off;
}

void PackPointwisePanels(const ConvParams& p, const float* x, const int64_t* row_off, int64_t nr,
                         int64_t panel_begin, int64_t panel_end, float* packed) {
  const int64_t hw = p.out_size(), k = p.in_c_per_group();
  for (int64_t q = panel_begin; q < panel_end; ++q) {
    // One run per panel; whole panels read exactly nr floats per row, so nothing overruns.
    const int64_t j0 = q * nr;
    const float* src[1] = {x + j0};
    const int64_t dst_off[1] = {0};
    PackRunsPanel(src, dst_off, 1, row_off, k, nr, std::min(nr, hw - j0), packed + q * k * nr);
  }
}

void Im2ColRows(const ConvParams& p, const float* x, int64_t row_begin, int64_t row_end,
                float* col) {
  const int64_t hw = p.out_size(), ks = p.kernel_size();
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t c = r / ks, ky = r % ks / p.kernel_w, kx = r % p.kernel_w;
    float* dst = col + r * hw;
    for (int64_t oy = 0; oy < p.out_h; ++oy, dst += p.out_w) {
      TapRun(p, x + c * p.in_size(), ky, kx, oy, 0, p.out_w, dst);
    }
  }
}

}  // namespace refit::cpu
