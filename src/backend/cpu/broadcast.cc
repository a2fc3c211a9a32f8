#include "backend/cpu/broadcast.h"

namespace refit::cpu::internal {

std::optional<BroadcastPlan> PlanBroadcast(const std::vector<int64_t>& out,
                                           const std::vector<std::vector<int64_t>>& operands) {
  const size_t rank = out.size(), n = operands.size();
  for (int64_t d : out) {
    if (d <= 0) return std::nullopt;
  }
  // Per operand, per output axis: its stride, 0 where broadcast (a missing or size-1 axis).
  std::vector<std::vector<int64_t>> full(n, std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < n; ++k) {
    const std::vector<int64_t>& dims = operands[k];
    if (dims.size() > rank) return std::nullopt;
    const size_t lead = rank - dims.size();
    int64_t stride = 1;
    for (size_t a = rank; a-- > lead;) {
      const int64_t d = dims[a - lead];
      if (d == out[a]) {
        full[k][a] = d == 1 ? 0 : stride;
      } else if (d != 1) {
        return std::nullopt;
      }
      stride *= d;
    }
  }
  // Merge axis a into the axis before it when every operand steps over both as over one.
  BroadcastPlan p;
  p.strides.assign(n, {});
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(n);
  for (size_t a = 0; a < rank; ++a) {
    if (out[a] == 1) continue;  // size-1 axes move nothing
    bool merge = !dims.empty();
    for (size_t k = 0; k < n && merge; ++k) {
      merge = strides[k].back() == full[k][a] * out[a];
    }
    if (merge) {
      dims.back() *= out[a];
      for (size_t k = 0; k < n; ++k) strides[k].back() = full[k][a];
    } else {
      dims.push_back(out[a]);
      for (size_t k = 0; k < n; ++k) strides[k].push_back(full[k][a]);
    }
  }
  if (dims.empty()) {  // a scalar, or every axis of size 1
    dims.push_back(1);
    for (size_t k = 0; k < n; ++k) strides[k].push_back(0);
  }
  p.dims = std::move(dims);
  p.strides = std::move(strides);
  p.rows = 1;
  for (size_t a = 0; a + 1 < p.dims.size(); ++a) p.rows *= p.dims[a];
  return p;
}

}  // namespace refit::cpu::internal
