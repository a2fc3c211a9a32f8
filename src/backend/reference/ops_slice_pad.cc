// Slice and Pad: both map each output coordinate, axis by axis, to an input coordinate.
#include <algorithm>
#include <cstring>
#include <limits>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

// The ONNX clamping rules for one axis: negative starts/ends count from the end, then starts
// clamp to [0, dim] (forward) or [0, dim-1] (backward) and ends to [0, dim] or [-1, dim-1], so
// INT64_MAX / INT64_MIN mean "to the end". Returns the element count of the slice.
int64_t ClampSliceAxis(int64_t dim, int64_t& start, int64_t end, int64_t step) {
  if (dim == 0) return 0;
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
  // -step overflows for INT64_MIN; any step that large takes exactly one element.
  const uint64_t mag = uint64_t(0) - uint64_t(step);
  return 1 + int64_t(uint64_t(start - end - 1) / mag);
}

Status Slice(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  const int64_t rank = int64_t(s.rank());
  // Opset 10 moved starts/ends/axes from attributes to inputs 1-3 and added steps (input 4).
  std::vector<int64_t> starts, ends, axes;
  REFIT_ASSIGN_OR_RETURN(bool has_starts, ReadIntsInputOrAttr(ctx, 1, "starts", starts));
  REFIT_ASSIGN_OR_RETURN(bool has_ends, ReadIntsInputOrAttr(ctx, 2, "ends", ends));
  REFIT_ASSIGN_OR_RETURN(bool has_axes, ReadIntsInputOrAttr(ctx, 3, "axes", axes));
  std::vector<int64_t> steps;
  if (const Tensor* t = ctx.input(4)) {
    REFIT_ASSIGN_OR_RETURN(steps, ReadInts(*t));
  }
  if (!has_starts || !has_ends) return ctx.Error("starts and ends are required");
  const size_t n = starts.size();
  if (!has_axes) {
    for (size_t j = 0; j < n; ++j) axes.push_back(int64_t(j));
  }
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n) {
    return ctx.Error("starts, ends, axes and steps have lengths " + std::to_string(n) + ", " +
                     std::to_string(ends.size()) + ", " + std::to_string(axes.size()) + ", " +
                     std::to_string(steps.size()) + "; they must be equal");
  }
  std::vector<int64_t> start(size_t(rank), 0), step(size_t(rank), 1);
  std::vector<int64_t> dims = s.dims();
  std::vector<bool> seen(size_t(rank), false);
  for (size_t j = 0; j < n; ++j) {
    REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axes[j], rank));
    const size_t a = size_t(axis64);
    if (seen[a]) return ctx.Error("axis " + std::to_string(axes[j]) + " repeated");
    seen[a] = true;
    if (steps[j] == 0) return ctx.Error("step 0 on axis " + std::to_string(axes[j]));
    start[a] = starts[j];
    step[a] = steps[j];
    dims[a] = ClampSliceAxis(s[a], start[a], ends[j], steps[j]);
  }
  const std::vector<int64_t> in_strides = s.Strides();
  int64_t offset = 0;
  std::vector<int64_t> strides(static_cast<size_t>(rank));
  for (size_t a = 0; a < size_t(rank); ++a) {
    if (dims[a] > 0) offset += start[a] * in_strides[a];
    strides[a] = in_strides[a] * step[a];
  }
  const Shape out_shape(std::move(dims));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), out_shape));
  CopyStrided(data->data(), offset, strides, out_shape, DataTypeSize(data->dtype()),
              out->mutable_data());
  return Status::Ok();
}

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// For one axis: the input coordinate of each output coordinate, or -1 for the constant value.
std::vector<int64_t> PadAxisMap(int64_t dim, int64_t begin, int64_t out_dim, PadMode mode) {
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
          } else {
            // Reflection without repeating the edge has period 2 * (dim - 1).
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

// The padding value as bytes of `dtype`: input 2 (opset 11+) or attribute 'value' (float).
Status PadValueBytes(const KernelContext& ctx, DataType dtype, std::vector<uint8_t>& bytes) {
  bytes.assign(DataTypeSize(dtype), 0);
  if (const Tensor* v = ctx.input(2)) {
    if (v->dtype() != dtype || v->NumElements() != 1) {
      return ctx.Error("constant_value must be one " + std::string(DataTypeName(dtype)) +
                       " element, found " + std::string(DataTypeName(v->dtype())) + " " +
                       v->shape().ToString());
    }
    std::memcpy(bytes.data(), v->data(), bytes.size());
    return Status::Ok();
  }
  REFIT_ASSIGN_OR_RETURN(float value, ctx.attrs().GetFloat("value", 0.0f));
  return DispatchAll(dtype, [&]<typename T>() {
    const T t = T(value);
    std::memcpy(bytes.data(), &t, sizeof(T));
  });
}

Status Pad(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  const size_t rank = s.rank();
  REFIT_ASSIGN_OR_RETURN(std::string mode_name, ctx.attrs().GetString("mode", "constant"));
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else if (mode_name == "wrap") {
    mode = PadMode::kWrap;
  } else {
    return ctx.Error("mode '" + mode_name + "' is not constant, reflect, edge or wrap");
  }
  // Opset 11 moved pads from an attribute (named 'paddings' in opset 1) to input 1.
  std::vector<int64_t> pads;
  REFIT_ASSIGN_OR_RETURN(bool has_pads, ReadIntsInputOrAttr(ctx, 1, "pads", pads));
  if (!has_pads) {
    REFIT_ASSIGN_OR_RETURN(has_pads, ReadIntsInputOrAttr(ctx, 1, "paddings", pads));
  }
  if (!has_pads) return ctx.Error("pads are missing");
  // Opset 18's optional axes (input 3) says which dims the pads apply to.
  std::vector<int64_t> axes;
  if (const Tensor* t = ctx.input(3)) {
    REFIT_ASSIGN_OR_RETURN(axes, ReadInts(*t));
  } else {
    for (size_t a = 0; a < rank; ++a) axes.push_back(int64_t(a));
  }
  if (pads.size() != 2 * axes.size()) {
    return ctx.Error("pads has " + std::to_string(pads.size()) + " entries, expected " +
                     std::to_string(2 * axes.size()) + " for input " + s.ToString());
  }
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t j = 0; j < axes.size(); ++j) {
    REFIT_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(axes[j], int64_t(rank)));
    begin[size_t(a)] = pads[j];
    end[size_t(a)] = pads[j + axes.size()];
  }
  std::vector<int64_t> dims(rank);
  std::vector<std::vector<int64_t>> maps(rank);
  for (size_t a = 0; a < rank; ++a) {
    dims[a] = s[a] + begin[a] + end[a];
    if (dims[a] < 0) return ctx.Error("pads make dim " + std::to_string(a) + " negative");
    const bool grows = begin[a] > 0 || end[a] > 0;
    if (mode != PadMode::kConstant && grows && s[a] == 0) {
      return ctx.Error("cannot pad an empty dim in mode " + mode_name);
    }
    maps[a] = PadAxisMap(s[a], begin[a], dims[a], mode);
  }
  std::vector<uint8_t> value;
  REFIT_RETURN_IF_ERROR(PadValueBytes(ctx, data->dtype(), value));
  const Shape out_shape(dims);
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), out_shape));
  const int64_t total = out_shape.NumElements();
  if (total == 0) return Status::Ok();
  const size_t elem = value.size();
  const std::vector<int64_t> in_strides = s.Strides();
  const auto* src = static_cast<const uint8_t*>(data->data());
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  // Odometer over the output; the input offset is rebuilt from the per-axis maps.
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < total; ++o) {
    int64_t offset = 0;
    bool constant = false;
    for (size_t a = 0; a < rank && !constant; ++a) {
      const int64_t i = maps[a][size_t(idx[a])];
      constant = i < 0;
      offset += i * in_strides[a];
    }
    std::memcpy(dst + size_t(o) * elem, constant ? value.data() : src + size_t(offset) * elem,
                elem);
    for (size_t a = rank; a-- > 0;) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
  return Status::Ok();
}

}  // namespace

void RegisterSliceOps(KernelRegistry& r) {
  r.Register("Slice", &Slice);
  r.Register("Pad", &Pad);
}

}  // namespace refit::reference
