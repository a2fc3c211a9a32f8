#include "backend/cpu/dnnl_layout.h"

#include <algorithm>

namespace refit::cpu {

std::optional<BlockedLayout2D> BlockedLayoutOf(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims < 2 || d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 ||
      d.extra.flags != dnnl_memory_extra_flag_none) {
    return std::nullopt;
  }
  // Dims past the second must be 1 (a 1x1 convolution's OIHW weights), unpadded.
  for (int dim = 2; dim < d.ndims; ++dim) {
    if (d.dims[dim] != 1 || d.padded_dims[dim] != 1 || d.padded_offsets[dim] != 0) {
      return std::nullopt;
    }
  }
  const dnnl_blocking_desc_t& blk = d.format_desc.blocking;
  BlockedLayout2D l;
  l.rows = d.dims[0];
  l.cols = d.dims[1];
  l.offset0 = d.offset0;
  l.floats = int64_t(md.get_size() / sizeof(float));
  bool blocked[2] = {false, false};
  int64_t within = 1;  // the innermost block is contiguous; each outer one steps over it
  for (int i = blk.inner_nblks - 1; i >= 0; --i) {
    const int64_t dim = blk.inner_idxs[i];
    if (dim < 0 || dim > 1 || blocked[dim] || blk.inner_blks[i] < 1) return std::nullopt;
    blocked[dim] = true;
    l.block[dim] = blk.inner_blks[i];
    l.inner[dim] = within;
    l.outer[dim] = blk.strides[dim];
    within *= blk.inner_blks[i];
  }
  for (int dim = 0; dim < 2; ++dim) {
    if (blocked[dim]) continue;
    if (d.padded_dims[dim] != d.dims[dim] || d.padded_offsets[dim] != 0) return std::nullopt;
    l.block[dim] = std::max<int64_t>(1, d.dims[dim]);
    l.inner[dim] = blk.strides[dim];
  }
  for (int dim = 0; dim < 2; ++dim) {
    if (blocked[dim] &&
        (d.padded_offsets[dim] != 0 ||
         d.padded_dims[dim] != (d.dims[dim] + l.block[dim] - 1) / l.block[dim] * l.block[dim])) {
      return std::nullopt;
    }
  }
  if (!l.Valid()) return std::nullopt;
  return l;
}

}  // namespace refit::cpu
