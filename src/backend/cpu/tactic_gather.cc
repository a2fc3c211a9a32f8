// Gather tactic ("gather/rows"), any axis and any data dtype, i32 or i64 indices read at every
// run: for each row of the axes before `axis` and each index, one contiguous block (the axes after
// `axis`) is copied. Data may be an activation or a weight slot (an embedding table, refitted
// like any weight: the tactic keeps its layout). A negative index counts from the end; one out
// of range fails the run, naming it.
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

struct GatherSpec {
  int64_t outer = 1;     // rows of the data axes before `axis`
  int64_t axis_dim = 0;  // data.shape[axis]
  int64_t count = 0;     // number of indices
  int64_t block = 0;     // bytes of one gathered block (the axes after `axis`)
  DataType index_dtype = DataType::kI64;
  std::string label;
};

class GatherKernel : public backend::Kernel {
 public:
  explicit GatherKernel(GatherSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.size() < 2 || io.inputs[0] == nullptr || io.inputs[1] == nullptr ||
        io.outputs.empty() || io.outputs[0] == nullptr) {
      return InvalidArgument(s_.label + ": expected data, indices and one output");
    }
    const Tensor& indices = *io.inputs[1];
    if (indices.NumElements() != s_.count || indices.dtype() != s_.index_dtype) {
      return InvalidArgument(s_.label + ": indices of another type than planned");
    }
    std::vector<int64_t> idx(size_t(s_.count));
    for (int64_t j = 0; j < s_.count; ++j) {
      const int64_t given = s_.index_dtype == DataType::kI64
                                ? indices.data_as<int64_t>()[j]
                                : int64_t(indices.data_as<int32_t>()[j]);
      const int64_t v = given < 0 ? given + s_.axis_dim : given;
      if (v < 0 || v >= s_.axis_dim) {
        return InvalidArgument(s_.label + ": index " + std::to_string(given) + " (element " +
                               std::to_string(j) + ") is out of range for a dimension of " +
                               std::to_string(s_.axis_dim));
      }
      idx[size_t(j)] = v;
    }
    const auto* x = static_cast<const uint8_t*>(io.inputs[0]->data());
    auto* y = static_cast<uint8_t*>(io.outputs[0]->mutable_data());
    const int64_t units = s_.outer * s_.count;
    internal::ParallelRows(io.pool, units, units * s_.block, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t row = u / s_.count, j = u % s_.count;
        std::memcpy(y + u * s_.block, x + (row * s_.axis_dim + idx[size_t(j)]) * s_.block,
                    size_t(s_.block));
      }
    });
    return Status::Ok();
  }

 private:
  GatherSpec s_;
};

std::optional<GatherSpec> ParseGather(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || node.op_type != "Gather") return std::nullopt;
  const backend::TensorDesc& data = layer.input(0);
  const backend::TensorDesc& indices = layer.input(1);
  if (!data.present() || !indices.present() || !internal::IsIndexType(indices.dtype) ||
      layer.outputs.size() != 1 || layer.outputs[0].dtype != data.dtype) {
    return std::nullopt;
  }
  const std::vector<int64_t>& dims = data.shape.dims();
  const int64_t rank = int64_t(dims.size());
  auto axis_attr = node.attrs.GetInt("axis", 0);
  if (!axis_attr.ok() || rank == 0) return std::nullopt;
  const int64_t axis = *axis_attr < 0 ? *axis_attr + rank : *axis_attr;
  if (axis < 0 || axis >= rank || dims[size_t(axis)] <= 0) return std::nullopt;
  GatherSpec s;
  s.label = layer.Label();
  s.axis_dim = dims[size_t(axis)];
  s.count = indices.shape.NumElements();
  s.index_dtype = indices.dtype;
  s.block = int64_t(DataTypeSize(data.dtype));
  for (int64_t a = 0; a < axis; ++a) s.outer *= dims[size_t(a)];
  for (int64_t a = axis + 1; a < rank; ++a) s.block *= dims[size_t(a)];
  // The planned output: data's axes before `axis`, the indices' shape, data's axes after it.
  std::vector<int64_t> expected(dims.begin(), dims.begin() + axis);
  for (int64_t d : indices.shape.dims()) expected.push_back(d);
  for (int64_t a = axis + 1; a < rank; ++a) expected.push_back(dims[size_t(a)]);
  if (layer.outputs[0].shape.dims() != expected) return std::nullopt;
  return s;
}

}  // namespace

void AddGatherTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<GatherSpec> s = ParseGather(layer);
  if (!s) return;
  out->push_back(std::make_unique<internal::SpecTactic<GatherSpec, GatherKernel>>("gather/rows",
                                                                                  std::move(*s)));
}

}  // namespace refit::cpu
