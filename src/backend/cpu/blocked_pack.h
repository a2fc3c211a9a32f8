// Internal to backend/cpu: packing a 2-D f32 weight into a blocked layout (oneDNN's BA16a64b,
// AB8b16a, Ab16a, plain ab or ba, ...) in one pass, checking its values on the way.
//
// A refit packs every weight again. oneDNN's generic reorder into its blocked layouts runs one
// element at a time on one thread and needs the values checked (and an alpha-scaled copy made)
// before it; this writes each tile of the layout once, with 8x8 transposes where the source runs
// across the tile's contiguous lines, and checks each line while it is still in L1.
#pragma once

#include <cstdint>

namespace refit::cpu {

// Where element (r, c) of a rows x cols matrix lies in a layout with at most one block per
// dimension: tiles of block[0] x block[1] elements, tile (r / block[0], c / block[1]) at
// offset0 + (r / block[0]) * outer[0] + (c / block[1]) * outer[1], element (r % block[0],
// c % block[1]) at inner[0] * (r % block[0]) + inner[1] * (c % block[1]) within it. An unblocked
// dimension is one tile wide (block = its size, outer unused). Padding elements (tiles past
// rows or cols) are written as zeros. `floats` is the layout's whole size.
struct BlockedLayout2D {
  int64_t rows = 0, cols = 0;
  int64_t block[2] = {1, 1};
  int64_t outer[2] = {0, 0};
  int64_t inner[2] = {0, 0};
  int64_t offset0 = 0;
  int64_t floats = 0;

  // True when every element of every tile, padding included, lies inside [0, floats) and no two
  // elements share a place (checked by arithmetic, not assumed).
  bool Valid() const;
  // Valid, and the tiles fill [0, floats) with no gap: PackBlocked2D then writes every float.
  bool Dense() const;
};

// Writes src(r, c) = src[r * src_row + c * src_col] times `scale` (then times row_scale[r] when
// row_scale is not null: a BatchNorm folded into a convolution's output channels) into `dst`
// (layout.floats floats), zeros in the padding of each tile. Places outside every tile (none when
// Dense()) are left as they were. Returns false when a value written is not finite (the rest is
// still written). Preconditions: layout.Valid(); dst does not overlap src.
bool PackBlocked2D(const BlockedLayout2D& layout, const float* src, int64_t src_row,
                   int64_t src_col, float scale, float* dst, const float* row_scale = nullptr);

}  // namespace refit::cpu
