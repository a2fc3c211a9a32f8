// Internal helpers shared by the shape and indexing kernel files (not part of any public API).
//
// The data-movement kernels (Transpose, Slice, Expand, Tile, ...) are dtype independent: they move
// whole elements by size, so every refit dtype (bool included) works without a dispatch per type.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "refit/float16.h"
#include "refit/tensor.h"

namespace refit::reference {

// Writes the elements of a strided view of `src` to `dst` densely in C order of `out_shape`.
// Element (i0, i1, ...) of the view is src[src_offset + sum(i_k * src_strides[k])] (strides in
// elements; zero repeats, negative walks backwards). Copies whole elements of `elem_size` bytes.
void CopyStrided(const void* src, int64_t src_offset, const std::vector<int64_t>& src_strides,
                 const Shape& out_shape, size_t elem_size, void* dst);

// Allocates output 0 with `in`'s dtype and `shape` (same element count) and copies the bytes.
Status CopyWithShape(KernelContext& ctx, const Tensor& in, Shape shape);

// Reads a list of integers given either as input `input_index` (newer opsets) or as attribute
// `attr_name` (older opsets) into `values`; returns false (values empty) when neither is present.
// Both forms are accepted at any opset so converted models of either vintage run.
StatusOr<bool> ReadIntsInputOrAttr(const KernelContext& ctx, size_t input_index,
                                   const std::string& attr_name, std::vector<int64_t>& values);

// Product of dims[begin, end).
int64_t DimProduct(const Shape& shape, size_t begin, size_t end);

// Half and BFloat16 compare and add through float; other types as themselves.
template <typename T>
auto AsArithmetic(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return float(v);
  } else {
    return v;
  }
}

// Registration of the kernels living in the extra files of the two families.
void RegisterLayoutOps(KernelRegistry& r);  // ops_layout.cc: Transpose, Concat, Split, Expand, Tile
void RegisterSliceOps(KernelRegistry& r);   // ops_slice_pad.cc: Slice, Pad
void RegisterSelectionOps(KernelRegistry& r);  // ops_topk.cc: TopK, ArgMax, ArgMin
// ops_gather_scatter.cc: GatherElements, GatherND, ScatterElements, ScatterND.
void RegisterGatherScatterOps(KernelRegistry& r);

}  // namespace refit::reference
