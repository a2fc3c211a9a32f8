// Slice tactic ("slice/strided"), any dtype of 1, 2, 4 or 8 bytes. starts/ends/axes/steps are
// weight slots (or, before opset 10, attributes) read at every run with ONNX's clamping rules;
// a run whose values do not give the planned output shape fails. The trailing axes the slice
// keeps whole fold into contiguous blocks, so a step-1 slice is one memcpy per row of the outer
// axes; other steps gather blocks (single elements when the last axis is stepped).
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

struct SliceSpec : internal::MoveShapes {
  bool from_inputs = true;  // opset 10+: inputs 1-4; else the attributes below
  std::vector<int64_t> attr_starts, attr_ends, attr_axes;
};

// ONNX's rules for one axis (as the reference executor applies them): negative values count from
// the end, then starts clamp to [0, dim] (forward) or [0, dim-1] (backward) and ends to [0, dim]
// or [-1, dim-1]. Returns the element count; `start` becomes the first element taken.
int64_t ClampAxis(int64_t dim, int64_t& start, int64_t end, int64_t step) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    return end > start ? 1 + (end - start - 1) / step : 0;
  }
  start = std::clamp<int64_t>(start, 0, dim - 1);
  end = std::clamp<int64_t>(end, -1, dim - 1);
  if (start <= end) return 0;
  const uint64_t mag = uint64_t(0) - uint64_t(step);  // -step overflows for INT64_MIN
  return 1 + int64_t(uint64_t(start - end - 1) / mag);
}

// Copies rows [begin, end) of the axes before `k`; each row is out_k blocks of `inner` elements.
template <typename E>
void SliceRows(const SliceSpec& s, const std::vector<int64_t>& start,
               const std::vector<int64_t>& step, size_t k, int64_t inner, const E* x, E* y,
               int64_t begin, int64_t end) {
  const std::vector<int64_t> in_strides = Shape(s.in_dims).Strides();
  const int64_t out_k = s.out_dims[k], step_k = step[k];
  const int64_t row_elems = out_k * inner;
  std::vector<int64_t> idx(k);
  for (size_t a = k, rem = size_t(begin); a-- > 0;) {
    idx[a] = int64_t(rem % size_t(s.out_dims[a]));
    rem /= size_t(s.out_dims[a]);
  }
  for (int64_t r = begin; r < end; ++r) {
    int64_t src = start[k] * in_strides[k];
    for (size_t a = 0; a < k; ++a) src += (start[a] + idx[a] * step[a]) * in_strides[a];
    const E* from = x + src;
    E* to = y + r * row_elems;
    if (step_k == 1) {
      std::memcpy(to, from, size_t(row_elems) * sizeof(E));
    } else if (inner == 1) {
      for (int64_t j = 0; j < out_k; ++j) to[j] = from[j * step_k];
    } else {
      for (int64_t j = 0; j < out_k; ++j) {
        std::memcpy(to + j * inner, from + j * step_k * inner, size_t(inner) * sizeof(E));
      }
    }
    for (size_t a = k; a-- > 0;) {
      if (++idx[a] < s.out_dims[a]) break;
      idx[a] = 0;
    }
  }
}

class SliceKernel : public backend::Kernel {
 public:
  explicit SliceKernel(SliceSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty()) {
      return InvalidArgument(s_.label + ": expected input data and one output");
    }
    const size_t rank = s_.in_dims.size();
    std::vector<int64_t> starts = s_.attr_starts, ends = s_.attr_ends, axes = s_.attr_axes, steps;
    if (s_.from_inputs) {
      for (auto [i, v] : {std::pair{size_t(1), &starts}, std::pair{size_t(2), &ends},
                          std::pair{size_t(3), &axes}, std::pair{size_t(4), &steps}}) {
        const Tensor* t = i < io.inputs.size() ? io.inputs[i] : nullptr;
        if (t == nullptr) continue;
        std::optional<std::vector<int64_t>> values = internal::ReadIndices(*t);
        if (!values) return InvalidArgument(s_.label + ": input " + std::to_string(i) + " not i64");
        *v = std::move(*values);
      }
    }
    const size_t n = starts.size();
    if (axes.empty() && n > 0) {
      for (size_t j = 0; j < n; ++j) axes.push_back(int64_t(j));
    }
    if (steps.empty()) steps.assign(n, 1);
    if (ends.size() != n || axes.size() != n || steps.size() != n) {
      return InvalidArgument(s_.label + ": starts, ends, axes and steps differ in length");
    }
    std::vector<int64_t> start(rank, 0), step(rank, 1), dims = s_.in_dims;
    std::vector<bool> seen(rank, false);
    for (size_t j = 0; j < n; ++j) {
      const int64_t axis = axes[j] < 0 ? axes[j] + int64_t(rank) : axes[j];
      if (axis < 0 || axis >= int64_t(rank) || seen[size_t(axis)] || steps[j] == 0) {
        return InvalidArgument(s_.label + ": bad axis " + std::to_string(axes[j]) + " or step");
      }
      const size_t a = size_t(axis);
      seen[a] = true;
      start[a] = starts[j];
      step[a] = steps[j];
      dims[a] = ClampAxis(s_.in_dims[a], start[a], ends[j], steps[j]);
    }
    if (dims != s_.out_dims) {
      return InvalidArgument(s_.label + ": the slice gives shape " + internal::DimsString(dims) +
                             ", not the planned " + internal::DimsString(s_.out_dims));
    }
    // The innermost axis the slice does not keep whole; the axes after it form contiguous blocks.
    size_t k = 0;
    int64_t inner = 1;
    for (size_t a = rank; a-- > 0;) {
      if (start[a] != 0 || step[a] != 1 || dims[a] != s_.in_dims[a]) {
        k = a;
        break;
      }
      if (a > 0) inner *= s_.in_dims[a];
    }
    int64_t rows = 1;
    for (size_t a = 0; a < k; ++a) rows *= dims[a];
    const int64_t bytes = rows * dims[k] * inner * int64_t(s_.elem_size);
    internal::DispatchElementSize(s_.elem_size, [&]<typename E>() {
      const E* x = io.inputs[0]->data_as<E>();
      E* y = io.outputs[0]->mutable_data_as<E>();
      internal::ParallelRows(io.pool, rows, bytes, [&](int64_t begin, int64_t end) {
        SliceRows<E>(s_, start, step, k, inner, x, y, begin, end);
      });
    });
    return Status::Ok();
  }

 private:
  SliceSpec s_;
};

std::optional<SliceSpec> ParseSlice(const backend::LayerDesc& layer) {
  std::optional<internal::MoveShapes> shapes = internal::ParseMoveShapes(layer, "Slice");
  if (!shapes) return std::nullopt;
  const ir::Node& node = *layer.node;
  SliceSpec s;
  static_cast<internal::MoveShapes&>(s) = std::move(*shapes);
  s.from_inputs = layer.opset >= 10;
  if (s.from_inputs) {
    if (!layer.input(1).present() || !layer.input(2).present()) return std::nullopt;
    for (size_t i = 1; i <= 4; ++i) {
      if (layer.input(i).present() && !internal::IsIndexType(layer.input(i).dtype)) {
        return std::nullopt;
      }
    }
  } else {
    auto starts = node.attrs.GetInts("starts", {});
    auto ends = node.attrs.GetInts("ends", {});
    auto axes = node.attrs.GetInts("axes", {});
    if (!starts.ok() || !ends.ok() || !axes.ok()) return std::nullopt;
    s.attr_starts = *starts;
    s.attr_ends = *ends;
    s.attr_axes = *axes;
  }
  return s;
}

}  // namespace

void AddSliceTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<SliceSpec> s = ParseSlice(layer);
  if (!s || (s->elem_size != 1 && s->elem_size != 2 && s->elem_size != 4 && s->elem_size != 8)) {
    return;
  }
  out->push_back(std::make_unique<internal::SpecTactic<SliceSpec, SliceKernel>>("slice/strided",
                                                                                std::move(*s)));
}

}  // namespace refit::cpu
