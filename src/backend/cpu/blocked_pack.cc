#include "backend/cpu/blocked_pack.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "backend/cpu/transpose_f32.h"

namespace refit::cpu {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Axis {
  int64_t count, stride;
};

// The four axes of the layout's place arithmetic: tiles down, tiles across, within a tile.
void Axes(const BlockedLayout2D& l, Axis out[4]) {
  out[0] = {CeilDiv(l.rows, l.block[0]), l.outer[0]};
  out[1] = {CeilDiv(l.cols, l.block[1]), l.outer[1]};
  out[2] = {l.block[0], l.inner[0]};
  out[3] = {l.block[1], l.inner[1]};
}

// No NaN or infinity among p[0, n): with the sign dropped, adding one exponent step carries
// into the top bit exactly for those (as base/finite.h's scan, without a TensorView per line).
bool AllFinite(const float* p, int64_t n) {
  uint32_t flags = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, 4);
    flags |= (bits & 0x7fffffffu) + 0x00800000u;
  }
  return (flags & 0x80000000u) == 0;
}

// Parts of a tile of at most kSub x kLongSub elements (the long side along the source's rows): one
// is copied or transposed, then scaled and checked while it is still in L2.
constexpr int64_t kSub = 64, kLongSub = 512;

// Elements [r0, r0 + nr) x [c0, c0 + nc) of the source into the tile at `tile`. Returns false
// when a value written is not finite.
bool CopyPart(const BlockedLayout2D& l, const float* src, int64_t src_row, int64_t src_col,
              float scale, const float* row_scale, int64_t r0, int64_t c0, int64_t nr, int64_t nc,
              int64_t tr, int64_t tc, float* tile) {
  const int64_t in0 = l.inner[0], in1 = l.inner[1];
  const float* s = src + r0 * src_row + c0 * src_col;
  float* d = tile + tr * in0 + tc * in1;  // (tr, tc): the part's first element within the tile
  bool finite = true;
  const float* rs = row_scale != nullptr ? row_scale + r0 : nullptr;  // this part's rows
  // Lines: runs contiguous in dst, one per row (in1 == 1) or per column (in0 == 1). Scaled as
  // `(v * scale) * row_scale[r]`, the scalar path's order.
  auto finish_lines = [&](int64_t lines, int64_t line_stride, int64_t len, bool lines_are_rows) {
    for (int64_t i = 0; i < lines; ++i) {
      float* line = d + i * line_stride;
      if (scale != 1.0f) {
        for (int64_t j = 0; j < len; ++j) line[j] *= scale;
      }
      if (rs != nullptr && lines_are_rows) {
        const float f = rs[i];
        for (int64_t j = 0; j < len; ++j) line[j] *= f;
      } else if (rs != nullptr) {
        for (int64_t j = 0; j < len; ++j) line[j] *= rs[j];
      }
      finite = AllFinite(line, len) && finite;
    }
  };
  if (in1 == 1 || in0 == 1) {
    // One line per row (in1 == 1) or per column (in0 == 1); `e` steps along a line, in the
    // source by src_elem and in the tile by 1.
    const bool rows = in1 == 1;
    const int64_t lines = rows ? nr : nc, len = rows ? nc : nr;
    const int64_t dst_line = rows ? in0 : in1;
    const int64_t src_line = rows ? src_row : src_col, src_elem = rows ? src_col : src_row;
    if (src_elem == 1) {
      for (int64_t i = 0; i < lines; ++i) {
        std::memcpy(d + i * dst_line, s + i * src_line, size_t(len) * 4);
      }
    } else if (src_line == 1) {
      // d[i * dst_line + e] = s[e * src_elem + i]; unscaled, checked in registers as it goes.
      if (scale == 1.0f && rs == nullptr) {
        return TransposeF32Finite(s, src_elem, len, lines, d, dst_line);
      }
      TransposeF32(s, src_elem, len, lines, d, dst_line);
    } else {
      for (int64_t i = 0; i < lines; ++i) {
        for (int64_t e = 0; e < len; ++e) d[i * dst_line + e] = s[i * src_line + e * src_elem];
      }
    }
    finish_lines(lines, dst_line, len, rows);
    return finite;
  }
  for (int64_t i = 0; i < nr; ++i) {
    for (int64_t j = 0; j < nc; ++j) {
      float v = s[i * src_row + j * src_col] * scale;
      if (rs != nullptr) v *= rs[i];
      d[i * in0 + j * in1] = v;
      finite = AllFinite(&v, 1) && finite;
    }
  }
  return finite;
}

}  // namespace

bool BlockedLayout2D::Valid() const {
  if (rows < 0 || cols < 0 || block[0] < 1 || block[1] < 1 || offset0 < 0 || floats < 0) {
    return false;
  }
  if (rows == 0 || cols == 0) return true;
  Axis axes[4];
  Axes(*this, axes);
  std::sort(axes, axes + 4, [](const Axis& a, const Axis& b) { return a.stride < b.stride; });
  // Mixed radix: each axis steps past everything the axes below it reach, so no two elements
  // share a place; the last place is the sum of the spans.
  int64_t span = 0;  // the highest offset the axes so far reach
  for (const Axis& a : axes) {
    if (a.count == 1) continue;
    if (a.stride <= span) return false;
    if (a.stride > (int64_t{1} << 40) / a.count) return false;
    span += (a.count - 1) * a.stride;
  }
  return offset0 + span < floats;
}

bool BlockedLayout2D::Dense() const {
  if (!Valid()) return false;
  Axis axes[4];
  Axes(*this, axes);
  int64_t places = 1;
  for (const Axis& a : axes) places *= a.count;
  return offset0 == 0 && places == floats;
}

bool PackBlocked2D(const BlockedLayout2D& layout, const float* src, int64_t src_row,
                   int64_t src_col, float scale, float* dst, const float* row_scale) {
  BlockedLayout2D l = layout;
  // A dim whose next tile starts where the last one ends (BA16a64b's 16-row tiles, one under
  // the other) is one tall tile: a transposed source is then read a long run per row.
  for (int d = 0; d < 2; ++d) {
    const int64_t extent = d == 0 ? l.rows : l.cols;
    if (l.block[d] < extent && l.outer[d] == l.block[d] * l.inner[d]) {
      l.block[d] *= CeilDiv(extent, l.block[d]);
      l.outer[d] = 0;
    }
  }
  bool finite = true;
  const int64_t b0 = l.block[0], b1 = l.block[1];
  const int64_t tiles0 = CeilDiv(l.rows, b0), tiles1 = CeilDiv(l.cols, b1);
  // Tiles in the order they lie in dst, so the writes run forward.
  const bool rows_inner = l.outer[0] < l.outer[1];
  // Parts of a tile: long along the dim the source runs along, so its rows are read in runs.
  const int64_t part0 = src_row == 1 ? kLongSub : kSub, part1 = src_row == 1 ? kSub : kLongSub;
  for (int64_t t = 0; t < tiles0 * tiles1; ++t) {
    const int64_t t0 = rows_inner ? t % tiles0 : t / tiles1;
    const int64_t t1 = rows_inner ? t / tiles0 : t % tiles1;
    const int64_t r0 = t0 * b0, c0 = t1 * b1;
    float* tile = dst + l.offset0 + t0 * l.outer[0] + t1 * l.outer[1];
    const int64_t nr = std::min(b0, l.rows - r0), nc = std::min(b1, l.cols - c0);
    // A tile at the matrix's edge: its padding is zeros.
    for (int64_t i = 0; i < b0; ++i) {
      for (int64_t j = i < nr ? nc : 0; j < b1; ++j) tile[i * l.inner[0] + j * l.inner[1]] = 0.0f;
    }
    for (int64_t i = 0; i < nr; i += part0) {
      for (int64_t j = 0; j < nc; j += part1) {
        finite = CopyPart(l, src, src_row, src_col, scale, row_scale, r0 + i, c0 + j,
                          std::min(part0, nr - i), std::min(part1, nc - j), i, j, tile) &&
                 finite;
      }
    }
  }
  return finite;
}

}  // namespace refit::cpu
