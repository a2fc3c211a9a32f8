// Pad tactic ("pad/rows"): modes constant, reflect, edge and wrap, any dtype of 1, 2, 4 or 8
// bytes, negative pads (crops) included. The pads input is a weight slot whose value arrives at
// run time, so each run maps every output coordinate to an input coordinate axis by axis (a few
// hundred entries) and checks the pads give the planned output shape. The interior of each
// output row is one memcpy; only its padded ends are gathered. Opset 18's axes input is declined.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

struct PadSpec : internal::MoveShapes {
  PadMode mode = PadMode::kConstant;
  bool pads_from_input = true;      // opset 11+: input 1; else the attribute below
  std::vector<int64_t> attr_pads;   // begins then ends
  std::vector<uint8_t> attr_value;  // the value bytes when there is no constant_value input
};

// For one axis: the input coordinate of each output coordinate, -1 for the constant value.
std::vector<int64_t> AxisMap(int64_t dim, int64_t begin, int64_t out_dim, PadMode mode) {
  std::vector<int64_t> map(static_cast<size_t>(out_dim));
  for (int64_t o = 0; o < out_dim; ++o) {
    int64_t i = o - begin;
    if (i < 0 || i >= dim) {
      switch (mode) {
        case PadMode::kConstant:
          i = -1;
          break;
        case PadMode::kEdge:
          i = std::clamp<int64_t>(i, 0, dim - 1);
          break;
        case PadMode::kWrap:
          i = ((i % dim) + dim) % dim;
          break;
        case PadMode::kReflect:
          if (dim == 1) {
            i = 0;
          } else {  // reflection without repeating the edge has period 2 * (dim - 1)
            const int64_t period = 2 * (dim - 1);
            i = ((i % period) + period) % period;
            if (i >= dim) i = period - i;
          }
          break;
      }
    }
    map[size_t(o)] = i;
  }
  return map;
}

template <typename E>
void PadRows(const PadSpec& s, const std::vector<std::vector<int64_t>>& maps, int64_t last_begin,
             E value, const E* x, E* y, int64_t begin, int64_t end) {
  const size_t outer_rank = s.out_dims.size() - 1;
  const std::vector<int64_t> in_strides = Shape(s.in_dims).Strides();
  const int64_t ow = s.out_dims.back(), iw = s.in_dims.back();
  const std::vector<int64_t>& wmap = maps.back();
  // The output columns [lo, hi) read input columns [lo - last_begin, hi - last_begin) in order.
  const int64_t lo = std::max<int64_t>(0, last_begin);
  const int64_t hi = std::max(lo, std::min(ow, last_begin + iw));
  std::vector<int64_t> idx(outer_rank);
  for (size_t a = outer_rank, rem = size_t(begin); a-- > 0;) {
    idx[a] = int64_t(rem % size_t(s.out_dims[a]));
    rem /= size_t(s.out_dims[a]);
  }
  for (int64_t r = begin; r < end; ++r) {
    E* dst = y + r * ow;
    int64_t src = 0;
    bool constant = false;
    for (size_t a = 0; a < outer_rank && !constant; ++a) {
      const int64_t i = maps[a][size_t(idx[a])];
      constant = i < 0;
      src += i * in_strides[a];
    }
    if (constant) {
      std::fill_n(dst, ow, value);
    } else {
      const E* row = x + src;
      for (int64_t j = 0; j < lo; ++j) dst[j] = wmap[size_t(j)] < 0 ? value : row[wmap[size_t(j)]];
      if (hi > lo) std::memcpy(dst + lo, row + (lo - last_begin), size_t(hi - lo) * sizeof(E));
      for (int64_t j = hi; j < ow; ++j) dst[j] = wmap[size_t(j)] < 0 ? value : row[wmap[size_t(j)]];
    }
    for (size_t a = outer_rank; a-- > 0;) {
      if (++idx[a] < s.out_dims[a]) break;
      idx[a] = 0;
    }
  }
}

class PadKernel : public backend::Kernel {
 public:
  explicit PadKernel(PadSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty()) {
      return InvalidArgument(s_.label + ": expected input data and one output");
    }
    const size_t rank = s_.in_dims.size();
    std::vector<int64_t> pads = s_.attr_pads;
    if (s_.pads_from_input) {
      const Tensor* t = io.inputs.size() > 1 ? io.inputs[1] : nullptr;
      std::optional<std::vector<int64_t>> v;
      if (t != nullptr) v = internal::ReadIndices(*t);
      if (!v) return InvalidArgument(s_.label + ": pads input is missing or not i64");
      pads = std::move(*v);
    }
    if (pads.size() != 2 * rank) {
      return InvalidArgument(s_.label + ": pads has " + std::to_string(pads.size()) +
                             " entries, expected " + std::to_string(2 * rank));
    }
    std::vector<std::vector<int64_t>> maps(rank);
    for (size_t a = 0; a < rank; ++a) {
      if (s_.in_dims[a] + pads[a] + pads[a + rank] != s_.out_dims[a]) {
        return InvalidArgument(s_.label + ": pads give another shape than the planned " +
                               internal::DimsString(s_.out_dims));
      }
      maps[a] = AxisMap(s_.in_dims[a], pads[a], s_.out_dims[a], s_.mode);
    }
    std::vector<uint8_t> value = s_.attr_value;
    if (const Tensor* v = internal::NonEmptyInput(io, 2); v != nullptr) {
      if (v->nbytes() != s_.elem_size) {
        return InvalidArgument(s_.label + ": constant_value must hold one element");
      }
      std::memcpy(value.data(), v->data(), s_.elem_size);
    }
    int64_t rows = 1;
    for (size_t a = 0; a + 1 < rank; ++a) rows *= s_.out_dims[a];
    const int64_t bytes = rows * s_.out_dims.back() * int64_t(s_.elem_size);
    internal::DispatchElementSize(s_.elem_size, [&]<typename E>() {
      E v;
      std::memcpy(&v, value.data(), sizeof(E));
      const E* x = io.inputs[0]->data_as<E>();
      E* y = io.outputs[0]->mutable_data_as<E>();
      internal::ParallelRows(io.pool, rows, bytes, [&](int64_t begin, int64_t end) {
        PadRows<E>(s_, maps, pads[rank - 1], v, x, y, begin, end);
      });
    });
    return Status::Ok();
  }

 private:
  PadSpec s_;
};

std::optional<PadSpec> ParsePad(const backend::LayerDesc& layer) {
  std::optional<internal::MoveShapes> shapes = internal::ParseMoveShapes(layer, "Pad");
  if (!shapes || layer.input(3).present()) return std::nullopt;  // opset 18's axes input
  const ir::Node& node = *layer.node;
  const backend::TensorDesc& x = layer.input(0);
  PadSpec s;
  static_cast<internal::MoveShapes&>(s) = std::move(*shapes);
  const size_t rank = s.in_dims.size();
  auto mode = node.attrs.GetString("mode", "constant");
  if (!mode.ok()) return std::nullopt;
  if (*mode == "constant") {
    s.mode = PadMode::kConstant;
  } else if (*mode == "reflect") {
    s.mode = PadMode::kReflect;
  } else if (*mode == "edge") {
    s.mode = PadMode::kEdge;
  } else if (*mode == "wrap") {
    s.mode = PadMode::kWrap;
  } else {
    return std::nullopt;
  }
  s.attr_value.assign(s.elem_size, 0);
  s.pads_from_input = layer.opset >= 11;
  if (s.pads_from_input) {
    const backend::TensorDesc& p = layer.input(1);
    if (!p.present() || !internal::IsIndexType(p.dtype) ||
        p.shape.NumElements() != int64_t(2 * rank)) {
      return std::nullopt;
    }
    const backend::TensorDesc& v = layer.input(2);
    if (v.present() && v.shape.NumElements() > 0 &&
        (v.dtype != x.dtype || v.shape.NumElements() != 1)) {
      return std::nullopt;
    }
  } else {
    const char* name = node.attrs.Has("pads") ? "pads" : "paddings";
    auto pads = node.attrs.GetInts(name, {});
    auto value = node.attrs.GetFloat("value", 0.0f);
    if (!pads.ok() || pads->size() != 2 * rank || !value.ok()) return std::nullopt;
    s.attr_pads = *pads;
    // A non-zero legacy value is converted to the dtype only for f32, the case models have.
    if (x.dtype == DataType::kF32) {
      std::memcpy(s.attr_value.data(), &*value, sizeof(float));
    } else if (*value != 0.0f || std::signbit(*value)) {
      return std::nullopt;
    }
  }
  return s;
}

}  // namespace

void AddPadTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<PadSpec> s = ParsePad(layer);
  if (!s || (s->elem_size != 1 && s->elem_size != 2 && s->elem_size != 4 && s->elem_size != 8)) {
    return;
  }
  out->push_back(
      std::make_unique<internal::SpecTactic<PadSpec, PadKernel>>("pad/rows", std::move(*s)));
}

}  // namespace refit::cpu
