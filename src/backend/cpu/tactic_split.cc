// Split tactic ("split/memcpy"), any axis and any dtype: the mirror of Concat. Along the axis each
// output takes one contiguous block per row of the outer axes, so the layer is a list of block
// copies. The sizes are the planned output shapes (the split input or attribute fixed them when
// the engine was built).
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

struct SplitPlan {
  int64_t outer = 1;                // rows of the axes before the split axis
  int64_t row_bytes = 0;            // one input row: every output's block
  std::vector<int64_t> block;       // per output: its bytes in one row
  std::vector<int64_t> src_offset;  // per output: where its block starts in an input row
  std::string label;
};

class SplitKernel : public backend::Kernel {
 public:
  explicit SplitKernel(SplitPlan plan) : p_(std::move(plan)) {}

  Status Run(const backend::KernelIo& io) const override {
    const size_t n = p_.block.size();
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.size() != n) {
      return InvalidArgument(p_.label + ": expected one input and " + std::to_string(n) +
                             " outputs");
    }
    for (size_t i = 0; i < n; ++i) {
      if (io.outputs[i] == nullptr) return InvalidArgument(p_.label + ": an output is absent");
    }
    const auto* x = static_cast<const uint8_t*>(io.inputs[0]->data());
    auto body = [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t row = u / int64_t(n);
        const size_t i = size_t(u % int64_t(n));
        auto* y = static_cast<uint8_t*>(io.outputs[i]->mutable_data());
        std::memcpy(y + row * p_.block[i], x + row * p_.row_bytes + p_.src_offset[i],
                    size_t(p_.block[i]));
      }
    };
    internal::ParallelRows(io.pool, p_.outer * int64_t(n), p_.outer * p_.row_bytes, body);
    return Status::Ok();
  }

 private:
  SplitPlan p_;
};

std::optional<SplitPlan> ParseSplit(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || node.op_type != "Split") return std::nullopt;
  const backend::TensorDesc& x = layer.input(0);
  if (!x.present() || layer.is_weight(0) || layer.outputs.empty()) return std::nullopt;
  const std::vector<int64_t>& dims = x.shape.dims();
  const int64_t rank = int64_t(dims.size());
  auto axis_attr = node.attrs.GetInt("axis", 0);
  if (!axis_attr.ok() || rank == 0) return std::nullopt;
  const int64_t axis = *axis_attr < 0 ? *axis_attr + rank : *axis_attr;
  if (axis < 0 || axis >= rank) return std::nullopt;
  SplitPlan p;
  p.label = layer.Label();
  const int64_t elem = int64_t(DataTypeSize(x.dtype));
  int64_t inner = elem;
  for (int64_t a = axis + 1; a < rank; ++a) inner *= dims[size_t(a)];
  for (int64_t a = 0; a < axis; ++a) p.outer *= dims[size_t(a)];
  int64_t along = 0;
  for (const backend::TensorDesc& out : layer.outputs) {
    if (!out.present() || out.dtype != x.dtype || out.shape.rank() != size_t(rank)) {
      return std::nullopt;
    }
    for (int64_t a = 0; a < rank; ++a) {
      if (a != axis && out.shape[size_t(a)] != dims[size_t(a)]) return std::nullopt;
    }
    p.src_offset.push_back(along * inner);
    p.block.push_back(out.shape[size_t(axis)] * inner);
    along += out.shape[size_t(axis)];
  }
  if (along != dims[size_t(axis)]) return std::nullopt;
  p.row_bytes = along * inner;
  return p;
}

}  // namespace

void AddSplitTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<SplitPlan> p = ParseSplit(layer);
  if (!p) return;
  out->push_back(std::make_unique<internal::SpecTactic<SplitPlan, SplitKernel>>("split/memcpy",
                                                                                std::move(*p)));
}

}  // namespace refit::cpu
