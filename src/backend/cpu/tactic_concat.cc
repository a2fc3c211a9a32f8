// Concat tactic ("concat/memcpy"), any axis and any dtype: along the axis each input contributes
// one contiguous block per row of the outer axes, so the layer is a list of block copies. Large
// blocks are cut into chunks so that a concat along axis 0 (one row) still spreads over threads.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

// A unit of work copies at most this many bytes.
constexpr int64_t kChunkBytes = int64_t{1} << 16;

struct ConcatPlan {
  int64_t outer = 1;                // rows of the axes before the concat axis
  int64_t row_bytes = 0;            // one output row: every input's block
  std::vector<int64_t> block;       // per input: its bytes in one row
  std::vector<int64_t> dst_offset;  // per input: where its block starts in an output row
  std::vector<int64_t> first_unit;  // per input: its first unit within a row; back() = units/row
  std::string label;
};

class ConcatKernel : public backend::Kernel {
 public:
  explicit ConcatKernel(ConcatPlan plan) : p_(std::move(plan)) {}

  Status Run(const backend::KernelIo& io) const override {
    const size_t n = p_.block.size();
    if (io.inputs.size() < n || io.outputs.empty()) {
      return InvalidArgument(p_.label + ": expected " + std::to_string(n) + " inputs");
    }
    for (size_t i = 0; i < n; ++i) {
      if (io.inputs[i] == nullptr) return InvalidArgument(p_.label + ": an input is absent");
    }
    auto* y = static_cast<uint8_t*>(io.outputs[0]->mutable_data());
    const int64_t units_per_row = p_.first_unit.back();
    auto body = [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t row = u / units_per_row, in_row = u % units_per_row;
        // The input whose units hold in_row: the last one starting at or before it.
        const size_t i =
            size_t(std::upper_bound(p_.first_unit.begin(), p_.first_unit.end() - 1, in_row) -
                   p_.first_unit.begin()) -
            1;
        const int64_t off = (in_row - p_.first_unit[i]) * kChunkBytes;
        const int64_t len = std::min(kChunkBytes, p_.block[i] - off);
        const auto* src = static_cast<const uint8_t*>(io.inputs[i]->data());
        std::memcpy(y + row * p_.row_bytes + p_.dst_offset[i] + off, src + row * p_.block[i] + off,
                    size_t(len));
      }
    };
    internal::ParallelRows(io.pool, p_.outer * units_per_row, p_.outer * p_.row_bytes, body);
    return Status::Ok();
  }

 private:
  ConcatPlan p_;
};

class ConcatTactic : public backend::Tactic {
 public:
  explicit ConcatTactic(ConcatPlan plan) : p_(std::move(plan)) {}
  std::string name() const override { return "concat/memcpy"; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new ConcatKernel(p_));
  }

 private:
  ConcatPlan p_;
};

std::optional<ConcatPlan> ParseConcat(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || node.op_type != "Concat" || layer.inputs.empty() ||
      layer.outputs.size() != 1) {
    return std::nullopt;
  }
  const backend::TensorDesc& out = layer.outputs[0];
  const size_t rank = out.shape.rank();
  auto axis_attr = node.attrs.GetInt("axis", 0);
  if (!axis_attr.ok() || rank == 0) return std::nullopt;
  const int64_t axis = *axis_attr < 0 ? *axis_attr + int64_t(rank) : *axis_attr;
  if (axis < 0 || axis >= int64_t(rank)) return std::nullopt;
  const int64_t elem = int64_t(DataTypeSize(out.dtype));
  if (elem == 0) return std::nullopt;
  ConcatPlan p;
  p.label = layer.Label();
  int64_t inner = elem;
  for (size_t a = size_t(axis) + 1; a < rank; ++a) inner *= out.shape[a];
  for (size_t a = 0; a < size_t(axis); ++a) p.outer *= out.shape[a];
  int64_t axis_total = 0;
  p.first_unit.push_back(0);
  for (const backend::TensorDesc& in : layer.inputs) {
    if (!in.present() || in.dtype != out.dtype || in.shape.rank() != rank) return std::nullopt;
    for (size_t a = 0; a < rank; ++a) {
      if (a != size_t(axis) && in.shape[a] != out.shape[a]) return std::nullopt;
    }
    const int64_t block = in.shape[size_t(axis)] * inner;
    p.dst_offset.push_back(axis_total * inner);
    p.block.push_back(block);
    p.first_unit.push_back(p.first_unit.back() + (block + kChunkBytes - 1) / kChunkBytes);
    axis_total += in.shape[size_t(axis)];
  }
  if (axis_total != out.shape[size_t(axis)]) return std::nullopt;
  p.row_bytes = axis_total * inner;
  // Nothing to copy: let the reference backend handle the degenerate layer.
  if (p.outer == 0 || p.row_bytes == 0) return std::nullopt;
  return p;
}

}  // namespace

void AddConcatTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<ConcatPlan> p = ParseConcat(layer);
  if (p) out->push_back(std::make_unique<ConcatTactic>(std::move(*p)));
}

}  // namespace refit::cpu
