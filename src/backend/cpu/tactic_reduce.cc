// Reduce tactic ("reduce/rows") for ReduceSum, ReduceMean, ReduceMax and ReduceMin on f32. The
// axes are checked against the planned output shape and planned: the attribute's once, when the
// kernel is made; an `axes` input's at every run. When the reduced axes are one block of adjacent
// axes (the usual case: the last axis, or H and W), the input is [outer, R, inner]: each output row
// folds R rows of `inner` contiguous floats, or, with inner == 1, one contiguous run of R floats in
// eight lanes. Other axis sets fold element by element. Sums accumulate in f32 (within 1e-5 of the
// reference's double sums on the conformance cases); max and min are exact.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

enum class Fold { kSum, kMean, kMax, kMin };

struct ReduceSpec {
  Fold fold = Fold::kSum;
  std::vector<int64_t> in_dims, out_dims;
  std::vector<int64_t> attr_axes;  // when the node has no axes input
  bool axes_from_input = false;
  bool keepdims = true, noop_with_empty_axes = false;
  std::string label;
};

inline float Combine(Fold f, float a, float b) {
  switch (f) {
    case Fold::kMax:
      return std::max(a, b);
    case Fold::kMin:
      return std::min(a, b);
    default:
      return a + b;
  }
}

inline float Identity(Fold f) {
  switch (f) {
    case Fold::kMax:
      return -std::numeric_limits<float>::infinity();
    case Fold::kMin:
      return std::numeric_limits<float>::infinity();
    default:
      return 0.0f;
  }
}

// Folds n contiguous floats in eight independent lanes (vectorizable), then the lanes.
float FoldRun(Fold f, const float* x, int64_t n) {
  float lane[8];
  std::fill_n(lane, 8, Identity(f));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) lane[k] = Combine(f, lane[k], x[i + k]);
  }
  for (; i < n; ++i) lane[i % 8] = Combine(f, lane[i % 8], x[i]);
  float r = lane[0];
  for (int k = 1; k < 8; ++k) r = Combine(f, r, lane[k]);
  return r;
}

// What a set of axes does to the planned shapes: checked once, at instantiation when the axes are
// the attribute, at every run when they are an input.
struct ReducePlan {
  bool copy = false;  // noop_with_empty_axes with no axes, or no axis reduced
  std::vector<bool> reduced;
  int64_t group = 1;              // input elements per output element
  int64_t first = -1, last = -1;  // the reduced axes, when `block`
  bool block = true;              // the reduced axes are adjacent
  float scale = 1.0f;
};

StatusOr<ReducePlan> PlanReduce(const ReduceSpec& s, const std::vector<int64_t>& axes) {
  const int64_t rank = int64_t(s.in_dims.size());
  ReducePlan p;
  if (axes.empty() && s.noop_with_empty_axes) {
    if (s.out_dims != s.in_dims) return InvalidArgument(s.label + ": planned another shape");
    p.copy = true;
    return p;
  }
  p.reduced.assign(size_t(rank), axes.empty());
  for (int64_t a : axes) {
    const int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank || p.reduced[size_t(n)]) {
      return InvalidArgument(s.label + ": bad axis " + std::to_string(a));
    }
    p.reduced[size_t(n)] = true;
  }
  std::vector<int64_t> out_dims;
  for (int64_t a = 0; a < rank; ++a) {
    if (!p.reduced[size_t(a)]) {
      out_dims.push_back(s.in_dims[size_t(a)]);
    } else {
      p.group *= s.in_dims[size_t(a)];
      if (s.keepdims) out_dims.push_back(1);
    }
  }
  if (out_dims != s.out_dims) {
    return InvalidArgument(s.label + ": the axes give shape " + internal::DimsString(out_dims) +
                           ", not the planned " + internal::DimsString(s.out_dims));
  }
  p.scale = s.fold == Fold::kMean && p.group > 0 ? 1.0f / float(p.group) : 1.0f;
  for (int64_t a = 0; a < rank; ++a) {
    if (!p.reduced[size_t(a)]) continue;
    if (p.first < 0) p.first = a;
    p.block = p.block && (p.last < 0 || p.last == a - 1);
    p.last = a;
  }
  p.copy = p.first < 0;  // nothing reduced (no axis of the listed ones)
  return p;
}

class ReduceKernel : public backend::Kernel {
 public:
  explicit ReduceKernel(ReduceSpec spec)
      : s_(std::move(spec)),
        fixed_(s_.axes_from_input ? StatusOr<ReducePlan>(ReducePlan{})
                                  : PlanReduce(s_, s_.attr_axes)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty() ||
        io.outputs[0] == nullptr) {
      return InvalidArgument(s_.label + ": expected one input and one output");
    }
    if (!s_.axes_from_input) {
      REFIT_RETURN_IF_ERROR(fixed_.status());
      return Reduce(*fixed_, io);
    }
    std::vector<int64_t> axes;
    if (const Tensor* t = internal::NonEmptyInput(io, 1)) {
      std::optional<std::vector<int64_t>> v = internal::ReadIndices(*t);
      if (!v) return InvalidArgument(s_.label + ": axes are not integers");
      axes = std::move(*v);
    }
    REFIT_ASSIGN_OR_RETURN(const ReducePlan plan, PlanReduce(s_, axes));
    return Reduce(plan, io);
  }

 private:
  Status Reduce(const ReducePlan& p, const backend::KernelIo& io) const {
    const int64_t rank = int64_t(s_.in_dims.size());
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    if (p.copy) {
      std::memcpy(y, x, io.inputs[0]->nbytes());
      return Status::Ok();
    }
    const int64_t group = p.group;
    const float scale = p.scale;
    if (p.block) {
      int64_t outer = 1, inner = 1;
      for (int64_t a = 0; a < p.first; ++a) outer *= s_.in_dims[size_t(a)];
      for (int64_t a = p.last + 1; a < rank; ++a) inner *= s_.in_dims[size_t(a)];
      const int64_t bytes = outer * group * inner * int64_t(sizeof(float));
      internal::ParallelRows(io.pool, outer, bytes, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          const float* row = x + o * group * inner;
          float* out = y + o * inner;
          if (inner == 1) {
            *out = FoldRun(s_.fold, row, group) * scale;
            continue;
          }
          std::fill_n(out, inner, Identity(s_.fold));
          for (int64_t r = 0; r < group; ++r) {
            const float* src = row + r * inner;
            for (int64_t i = 0; i < inner; ++i) out[i] = Combine(s_.fold, out[i], src[i]);
          }
          if (scale != 1.0f) {
            for (int64_t i = 0; i < inner; ++i) out[i] *= scale;
          }
        }
      });
      return Status::Ok();
    }
    // Any other set of axes: element by element, each input element into its output element.
    const int64_t n_out = io.outputs[0]->NumElements();
    std::fill_n(y, n_out, Identity(s_.fold));
    std::vector<int64_t> out_stride(size_t(rank), 0);
    for (int64_t a = rank - 1, stride = 1; a >= 0; --a) {
      if (p.reduced[size_t(a)]) continue;
      out_stride[size_t(a)] = stride;
      stride *= s_.in_dims[size_t(a)];
    }
    std::vector<int64_t> idx(size_t(rank), 0);
    const int64_t n_in = io.inputs[0]->NumElements();
    int64_t o = 0;
    for (int64_t i = 0; i < n_in; ++i) {
      y[o] = Combine(s_.fold, y[o], x[i]);
      for (int64_t a = rank - 1; a >= 0; --a) {
        o += out_stride[size_t(a)];
        if (++idx[size_t(a)] < s_.in_dims[size_t(a)]) break;
        o -= out_stride[size_t(a)] * s_.in_dims[size_t(a)];
        idx[size_t(a)] = 0;
      }
    }
    if (scale != 1.0f) {
      for (int64_t k = 0; k < n_out; ++k) y[k] *= scale;
    }
    return Status::Ok();
  }

  ReduceSpec s_;
  StatusOr<ReducePlan> fixed_;  // the attribute axes' plan (unused with an axes input)
};

std::optional<ReduceSpec> ParseReduce(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty()) return std::nullopt;
  ReduceSpec s;
  if (node.op_type == "ReduceSum") {
    s.fold = Fold::kSum;
  } else if (node.op_type == "ReduceMean") {
    s.fold = Fold::kMean;
  } else if (node.op_type == "ReduceMax") {
    s.fold = Fold::kMax;
  } else if (node.op_type == "ReduceMin") {
    s.fold = Fold::kMin;
  } else {
    return std::nullopt;
  }
  const backend::TensorDesc& x = layer.input(0);
  if (!x.present() || x.dtype != DataType::kF32 || layer.is_weight(0) ||
      layer.outputs.size() != 1 || layer.outputs[0].dtype != DataType::kF32 ||
      x.shape.NumElements() == 0 || x.shape.rank() == 0) {
    return std::nullopt;
  }
  s.label = layer.Label();
  s.in_dims = x.shape.dims();
  s.out_dims = layer.outputs[0].shape.dims();
  s.axes_from_input = layer.input(1).present();
  if (s.axes_from_input && !internal::IsIndexType(layer.input(1).dtype)) return std::nullopt;
  auto axes = node.attrs.GetInts("axes", {});
  auto keepdims = node.attrs.GetInt("keepdims", 1);
  auto noop = node.attrs.GetInt("noop_with_empty_axes", 0);
  if (!axes.ok() || !keepdims.ok() || !noop.ok()) return std::nullopt;
  s.attr_axes = *axes;
  s.keepdims = *keepdims != 0;
  s.noop_with_empty_axes = *noop != 0;
  return s;
}

}  // namespace

void AddReduceTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<ReduceSpec> s = ParseReduce(layer);
  if (!s) return;
  out->push_back(std::make_unique<internal::SpecTactic<ReduceSpec, ReduceKernel>>("reduce/rows",
                                                                                  std::move(*s)));
}

}  // namespace refit::cpu
