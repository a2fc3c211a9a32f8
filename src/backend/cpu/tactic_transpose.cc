// Transpose tactic ("transpose/tiled"), any dtype of 1, 2, 4 or 8 bytes. At build time the
// permutation is simplified: axes of size 1 are dropped, and output axes that are also adjacent
// and in order in the input merge into one. What remains is either a copy of contiguous rows (the
// innermost axis stays innermost: one memcpy per row) or, per position of the other axes, a 2-D
// transpose between the output's innermost axis and the input's, done in square tiles small
// enough that both the rows read and the rows written stay in L1.
#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

struct TransposeSpec : internal::MoveShapes {
  // The simplified problem: output dims (row-major, contiguous) and, per output axis, the input
  // stride in elements. Never empty (a single axis of 1 element when everything was dropped).
  std::vector<int64_t> dims, src_strides;
  // When the last output axis is not the input's innermost: the output axis that is (stride 1).
  size_t unit_axis = 0;
};

constexpr int64_t kTile = 16;

// Calls fn(src, dst) for every position of the output axes in `axes` (an odometer over them),
// starting at linear position `begin` of those axes and visiting `count` positions.
template <typename Fn>
void ForPositions(const TransposeSpec& s, const std::vector<size_t>& axes,
                  const std::vector<int64_t>& dst_strides, int64_t begin, int64_t count,
                  const Fn& fn) {
  std::vector<int64_t> idx(axes.size());
  int64_t rem = begin;
  for (size_t k = axes.size(); k-- > 0;) {
    idx[k] = rem % s.dims[axes[k]];
    rem /= s.dims[axes[k]];
  }
  int64_t src = 0, dst = 0;
  for (size_t k = 0; k < axes.size(); ++k) {
    src += idx[k] * s.src_strides[axes[k]];
    dst += idx[k] * dst_strides[axes[k]];
  }
  for (int64_t p = 0; p < count; ++p) {
    fn(src, dst);
    for (size_t k = axes.size(); k-- > 0;) {
      const size_t a = axes[k];
      src += s.src_strides[a];
      dst += dst_strides[a];
      if (++idx[k] < s.dims[a]) break;
      src -= s.dims[a] * s.src_strides[a];
      dst -= s.dims[a] * dst_strides[a];
      idx[k] = 0;
    }
  }
}

template <typename E>
void TransposeRange(const TransposeSpec& s, const E* x, E* y, int64_t begin, int64_t end) {
  const size_t rank = s.dims.size();
  std::vector<int64_t> dst_strides(rank, 1);
  for (size_t a = rank - 1; a-- > 0;) dst_strides[a] = dst_strides[a + 1] * s.dims[a + 1];
  const size_t last = rank - 1;
  if (s.src_strides[last] == 1) {
    // Rows of the innermost axis are contiguous on both sides. Work items are positions of the
    // axes before the last two; each copies dims[last - 1] rows (the simplified problem has at
    // least two axes here: one axis with stride 1 would be the whole copy).
    if (rank == 1) {
      std::memcpy(y, x, size_t(s.dims[0]) * sizeof(E));
      return;
    }
    std::vector<size_t> outer(last - 1);
    std::iota(outer.begin(), outer.end(), size_t{0});
    const int64_t inner = s.dims[last], rows = s.dims[last - 1];
    const int64_t src_row = s.src_strides[last - 1], dst_row = dst_strides[last - 1];
    ForPositions(s, outer, dst_strides, begin, end - begin, [&](int64_t src, int64_t dst) {
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(y + dst + r * dst_row, x + src + r * src_row, size_t(inner) * sizeof(E));
      }
    });
    return;
  }
  // Work items: positions of the other axes times tiles of the unit axis.
  const size_t u = s.unit_axis;
  std::vector<size_t> others;
  for (size_t a = 0; a < last; ++a) {
    if (a != u) others.push_back(a);
  }
  const int64_t rows = s.dims[u], cols = s.dims[last];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const int64_t src_col_stride = s.src_strides[last], dst_row_stride = dst_strides[u];
  for (int64_t item = begin; item < end;) {
    const int64_t position = item / row_tiles;
    const int64_t first_tile = item % row_tiles;
    const int64_t tiles = std::min(row_tiles - first_tile, end - item);
    ForPositions(s, others, dst_strides, position, 1, [&](int64_t src, int64_t dst) {
      for (int64_t r0 = first_tile * kTile; r0 < (first_tile + tiles) * kTile && r0 < rows;
           r0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile);
        for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
          const int64_t c1 = std::min(cols, c0 + kTile);
          for (int64_t r = r0; r < r1; ++r) {
            const E* from = x + src + r;  // input stride 1 along the unit axis
            E* to = y + dst + r * dst_row_stride;
            for (int64_t c = c0; c < c1; ++c) to[c] = from[c * src_col_stride];
          }
        }
      }
    });
    item += tiles;
  }
}

class TransposeKernel : public backend::Kernel {
 public:
  explicit TransposeKernel(TransposeSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty() ||
        io.outputs[0] == nullptr) {
      return InvalidArgument(s_.label + ": expected one input and one output");
    }
    const size_t last = s_.dims.size() - 1;
    int64_t items = 1;
    if (s_.src_strides[last] == 1) {
      for (size_t a = 0; a + 1 < last; ++a) items *= s_.dims[a];
    } else {
      for (size_t a = 0; a < last; ++a) {
        if (a != s_.unit_axis) items *= s_.dims[a];
      }
      items *= (s_.dims[s_.unit_axis] + kTile - 1) / kTile;
    }
    int64_t elements = 1;
    for (int64_t d : s_.dims) elements *= d;
    const int64_t bytes = elements * int64_t(s_.elem_size);
    internal::DispatchElementSize(s_.elem_size, [&]<typename E>() {
      const E* x = io.inputs[0]->data_as<E>();
      E* y = io.outputs[0]->mutable_data_as<E>();
      internal::ParallelRows(io.pool, items, bytes, [&](int64_t begin, int64_t end) {
        TransposeRange<E>(s_, x, y, begin, end);
      });
    });
    return Status::Ok();
  }

 private:
  TransposeSpec s_;
};

std::optional<TransposeSpec> ParseTranspose(const backend::LayerDesc& layer) {
  std::optional<internal::MoveShapes> shapes = internal::ParseMoveShapes(layer, "Transpose");
  if (!shapes) return std::nullopt;
  TransposeSpec s;
  static_cast<internal::MoveShapes&>(s) = std::move(*shapes);
  const size_t rank = s.in_dims.size();
  std::vector<int64_t> reversed(rank);
  for (size_t a = 0; a < rank; ++a) reversed[a] = int64_t(rank - 1 - a);
  auto perm = layer.node->attrs.GetInts("perm", reversed);
  if (!perm.ok() || perm->size() != rank) return std::nullopt;
  std::vector<bool> seen(rank, false);
  for (size_t a = 0; a < rank; ++a) {
    const int64_t p = (*perm)[a];
    if (p < 0 || p >= int64_t(rank) || seen[size_t(p)] || s.out_dims[a] != s.in_dims[size_t(p)]) {
      return std::nullopt;
    }
    seen[size_t(p)] = true;
  }
  const std::vector<int64_t> in_strides = Shape(s.in_dims).Strides();
  for (size_t a = 0; a < rank; ++a) {
    const int64_t d = s.out_dims[a], stride = in_strides[size_t((*perm)[a])];
    if (d == 1) continue;
    // Merges with the previous output axis when the input holds the two as one.
    if (!s.dims.empty() && s.src_strides.back() == stride * d) {
      s.dims.back() *= d;
      s.src_strides.back() = stride;
      continue;
    }
    s.dims.push_back(d);
    s.src_strides.push_back(stride);
  }
  if (s.dims.empty()) {
    s.dims = {1};
    s.src_strides = {1};
  }
  const size_t last = s.dims.size() - 1;
  if (s.src_strides[last] != 1) {
    auto unit = std::find(s.src_strides.begin(), s.src_strides.end(), int64_t{1});
    if (unit == s.src_strides.end()) return std::nullopt;  // cannot happen for a permutation
    s.unit_axis = size_t(unit - s.src_strides.begin());
  }
  return s;
}

}  // namespace

void AddTransposeTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<TransposeSpec> s = ParseTranspose(layer);
  if (!s || (s->elem_size != 1 && s->elem_size != 2 && s->elem_size != 4 && s->elem_size != 8)) {
    return;
  }
  out->push_back(std::make_unique<internal::SpecTactic<TransposeSpec, TransposeKernel>>(
      "transpose/tiled", std::move(*s)));
}

}  // namespace refit::cpu
