// Expand tactic ("expand/broadcast"): the input broadcast to the planned output shape (numpy
// rules, broadcast.h), copied bit for bit for any dtype of 1, 2, 4 or 8 bytes. The `shape` input
// is read at every run and must give the planned shape with the input's, so a shape that differs
// from the one planned is an error rather than a wrong output.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/broadcast.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"
#include "refit/shape.h"

namespace refit::cpu {
namespace {

struct ExpandSpec {
  std::vector<int64_t> in_dims, out_dims;
  size_t elem_size = 4;
  internal::BroadcastPlan plan;
  std::string label;
};

class ExpandKernel : public backend::Kernel {
 public:
  explicit ExpandKernel(ExpandSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.size() != 2 || io.inputs[0] == nullptr || io.inputs[1] == nullptr ||
        io.outputs.size() != 1 || io.outputs[0] == nullptr) {
      return InvalidArgument(s_.label + ": expected an input, a shape and one output");
    }
    if (io.inputs[0]->shape().dims() != s_.in_dims ||
        io.outputs[0]->shape().dims() != s_.out_dims ||
        DataTypeSize(io.inputs[0]->dtype()) != s_.elem_size ||
        io.outputs[0]->dtype() != io.inputs[0]->dtype()) {
      return InvalidArgument(s_.label + ": input or output of another type or shape than planned");
    }
    const std::optional<std::vector<int64_t>> shape = internal::ReadIndices(*io.inputs[1]);
    if (!shape) return InvalidArgument(s_.label + ": the shape is not integers");
    const StatusOr<Shape> out = BroadcastShapes(Shape(s_.in_dims), Shape(*shape));
    if (!out.ok() || out->dims() != s_.out_dims) {
      return InvalidArgument(s_.label + ": shape " + internal::DimsString(*shape) +
                             " does not give the planned output " +
                             internal::DimsString(s_.out_dims));
    }
    const auto* x = static_cast<const uint8_t*>(io.inputs[0]->data());
    auto* y = static_cast<uint8_t*>(io.outputs[0]->mutable_data());
    const internal::BroadcastPlan& p = s_.plan;
    const int64_t n = p.row_len(), stride = p.inner_stride(0);
    internal::DispatchElementSize(s_.elem_size, [&]<typename E>() {
      const E* src = reinterpret_cast<const E*>(x);
      E* dst = reinterpret_cast<E*>(y);
      internal::ParallelRows(
          io.pool, p.rows, int64_t(io.outputs[0]->nbytes()), [&](int64_t begin, int64_t end) {
            internal::ForEachRow(p, begin, end, [&](int64_t o, const int64_t* off) {
              if (stride == 1) {
                std::memcpy(dst + o, src + off[0], size_t(n) * sizeof(E));
              } else {
                std::fill_n(dst + o, n, src[off[0]]);
              }
            });
          });
    });
    return Status::Ok();
  }

 private:
  ExpandSpec s_;
};

}  // namespace

void AddExpandTactics(const backend::LayerDesc& layer, TacticList* out) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || node.op_type != "Expand" || node.inputs.size() != 2) return;
  const backend::TensorDesc& x = layer.input(0);
  const backend::TensorDesc& shape = layer.input(1);
  if (!x.present() || !shape.present() || !internal::IsIndexType(shape.dtype) ||
      layer.outputs.size() != 1 || layer.outputs[0].dtype != x.dtype) {
    return;
  }
  const size_t size = DataTypeSize(x.dtype);
  if (size != 1 && size != 2 && size != 4 && size != 8) return;
  ExpandSpec s;
  s.in_dims = x.shape.dims();
  s.out_dims = layer.outputs[0].shape.dims();
  s.elem_size = size;
  s.label = layer.Label();
  std::optional<internal::BroadcastPlan> plan = internal::PlanBroadcast(s.out_dims, {s.in_dims});
  if (!plan) return;
  s.plan = std::move(*plan);
  out->push_back(std::make_unique<internal::SpecTactic<ExpandSpec, ExpandKernel>>(
      "expand/broadcast", std::move(s)));
}

}  // namespace refit::cpu
