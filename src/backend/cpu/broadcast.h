// Internal to backend/cpu: numpy broadcasting for the tactics whose operands are not all f32
// (Where, the comparisons and logic operators, Expand). The element-wise programs
// (eltwise_kernel.h) have their own f32 layout.
//
// A plan maps each operand onto the output: per output axis, the operand's element stride (0 where
// it is broadcast). Adjacent axes that every operand walks the same way are merged, so the
// innermost axis is as long as it can be and each operand's stride on it is 0 or 1. Kernels then
// run row by row over that axis.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace refit::cpu::internal {

struct BroadcastPlan {
  std::vector<int64_t> dims;                  // the output's merged axes (at least one)
  std::vector<std::vector<int64_t>> strides;  // per operand, per merged axis, in elements
  int64_t rows = 0;                           // product of every axis but the last
  int64_t row_len() const { return dims.back(); }
  int64_t inner_stride(size_t operand) const { return strides[operand].back(); }
};

// nullopt unless every operand broadcasts (right-aligned, size 1 or equal) to exactly `out`, and
// no dimension is empty or negative.
std::optional<BroadcastPlan> PlanBroadcast(const std::vector<int64_t>& out,
                                           const std::vector<std::vector<int64_t>>& operands);

// Calls fn(row_offset_in_output, operand_offsets) for rows [begin, end): each row has row_len()
// output elements, and operand k's elements along it are at operand_offsets[k] + i *
// inner_stride(k).
template <typename Fn>
void ForEachRow(const BroadcastPlan& p, int64_t begin, int64_t end, const Fn& fn) {
  const size_t rank = p.dims.size(), n = p.strides.size();
  std::vector<int64_t> idx(rank, 0), off(n, 0);
  // Position at row `begin`.
  int64_t r = begin;
  for (size_t a = rank - 1; a-- > 0;) {
    idx[a] = r % p.dims[a];
    r /= p.dims[a];
    for (size_t k = 0; k < n; ++k) off[k] += idx[a] * p.strides[k][a];
  }
  for (int64_t row = begin; row < end; ++row) {
    fn(row * p.row_len(), off.data());
    for (size_t a = rank - 1; a-- > 0;) {
      if (++idx[a] < p.dims[a]) {
        for (size_t k = 0; k < n; ++k) off[k] += p.strides[k][a];
        break;
      }
      for (size_t k = 0; k < n; ++k) off[k] -= (p.dims[a] - 1) * p.strides[k][a];
      idx[a] = 0;
    }
  }
}

}  // namespace refit::cpu::internal
