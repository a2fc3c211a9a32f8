// Shape-only operators: they change how elements are indexed, never their values or order
// (Reshape, Flatten, Squeeze, Unsqueeze), or they produce shapes and constants (Shape, Size,
// ConstantOfShape, Range). PyTorch exports build their reshape targets from these with int64
// tensors, so every kernel here accepts any dtype it can carry.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

Status Reshape(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  // Opset 1 carried the target as an attribute; opset 5 onwards as input 1.
  std::vector<int64_t> dims;
  REFIT_ASSIGN_OR_RETURN(bool has_shape, ReadIntsInputOrAttr(ctx, 1, "shape", dims));
  if (!has_shape) return ctx.Error("the target shape (input 1) is missing");
  REFIT_ASSIGN_OR_RETURN(int64_t allowzero, ctx.attrs().GetInt("allowzero", 0));
  int64_t infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0 && allowzero == 0) {
      if (i >= data->shape().rank()) {
        return ctx.Error("target dim " + std::to_string(i) + " is 0 (copy) but the input " +
                         data->shape().ToString() + " has no such dim");
      }
      dims[i] = data->shape()[i];
    } else if (dims[i] == -1) {
      if (infer >= 0) return ctx.Error("target shape has more than one -1");
      infer = int64_t(i);
      continue;
    } else if (dims[i] < 0) {
      return ctx.Error("target dim " + std::to_string(i) + " is " + std::to_string(dims[i]));
    }
    known *= dims[i];
  }
  const int64_t total = data->NumElements();
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      return ctx.Error("cannot infer the -1 dim reshaping " + data->shape().ToString() + " (" +
                       std::to_string(total) + " elements) with the other dims' product " +
                       std::to_string(known));
    }
    dims[size_t(infer)] = total / known;
  }
  return CopyWithShape(ctx, *data, Shape(std::move(dims)));
}

Status ShapeOp(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const int64_t rank = int64_t(data->shape().rank());
  REFIT_ASSIGN_OR_RETURN(int64_t start, ctx.attrs().GetInt("start", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t end, ctx.attrs().GetInt("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const int64_t n = std::max<int64_t>(end - start, 0);
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DataType::kI64, Shape{n}));
  for (int64_t i = 0; i < n; ++i) {
    out->mutable_data_as<int64_t>()[i] = data->shape()[size_t(start + i)];
  }
  return Status::Ok();
}

Status Size(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DataType::kI64, Shape{}));
  out->mutable_data_as<int64_t>()[0] = data->NumElements();
  return Status::Ok();
}

Status Flatten(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const int64_t rank = int64_t(data->shape().rank());
  REFIT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetInt("axis", 1));
  // Unlike most axes, Flatten's may equal the rank (everything goes to the first dim).
  if (axis < -rank || axis > rank) {
    return ctx.Error("axis " + std::to_string(axis) + " out of range [" + std::to_string(-rank) +
                     ", " + std::to_string(rank) + "]");
  }
  if (axis < 0) axis += rank;
  const Shape& s = data->shape();
  return CopyWithShape(
      ctx, *data, Shape{DimProduct(s, 0, size_t(axis)), DimProduct(s, size_t(axis), s.rank())});
}

Status Squeeze(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  std::vector<int64_t> axes;
  REFIT_ASSIGN_OR_RETURN(bool has_axes, ReadIntsInputOrAttr(ctx, 1, "axes", axes));
  std::vector<bool> drop(s.rank(), false);
  if (has_axes) {
    for (int64_t a : axes) {
      REFIT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, int64_t(s.rank())));
      if (s[size_t(axis)] != 1) {
        return ctx.Error("cannot squeeze axis " + std::to_string(a) + " of shape " + s.ToString() +
                         ": its size is not 1");
      }
      drop[size_t(axis)] = true;
    }
  } else {
    for (size_t a = 0; a < s.rank(); ++a) drop[a] = s[a] == 1;
  }
  std::vector<int64_t> dims;
  for (size_t a = 0; a < s.rank(); ++a) {
    if (!drop[a]) dims.push_back(s[a]);
  }
  return CopyWithShape(ctx, *data, Shape(std::move(dims)));
}

Status Unsqueeze(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  std::vector<int64_t> axes;
  REFIT_ASSIGN_OR_RETURN(bool has_axes, ReadIntsInputOrAttr(ctx, 1, "axes", axes));
  if (!has_axes) return ctx.Error("axes (input 1 or attribute) is missing");
  const int64_t out_rank = int64_t(s.rank() + axes.size());
  std::vector<bool> inserted(size_t(out_rank), false);
  for (int64_t a : axes) {
    REFIT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, out_rank));
    if (inserted[size_t(axis)]) return ctx.Error("axis " + std::to_string(a) + " repeated");
    inserted[size_t(axis)] = true;
  }
  std::vector<int64_t> dims;
  size_t next = 0;
  for (int64_t a = 0; a < out_rank; ++a) dims.push_back(inserted[size_t(a)] ? 1 : s[next++]);
  return CopyWithShape(ctx, *data, Shape(std::move(dims)));
}

Status ConstantOfShape(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* shape_in, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadInts(*shape_in));
  REFIT_ASSIGN_OR_RETURN(const Tensor* value, ctx.attrs().GetTensor("value"));
  if (value != nullptr && value->NumElements() != 1) {
    return ctx.Error("attribute 'value' must hold one element, found " +
                     std::to_string(value->NumElements()));
  }
  const DataType dtype = value ? value->dtype() : DataType::kF32;
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, dtype, Shape(std::move(dims))));
  if (value == nullptr) return Status::Ok();  // zero-filled float
  const size_t elem = DataTypeSize(dtype);
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  for (int64_t i = 0; i < out->NumElements(); ++i) {
    std::memcpy(dst + size_t(i) * elem, value->data(), elem);
  }
  return Status::Ok();
}

template <typename T>
Status FillRange(KernelContext& ctx, const Tensor& start_t, const Tensor& limit_t,
                 const Tensor& delta_t) {
  const auto start = AsArithmetic(start_t.data_as<T>()[0]);
  const auto limit = AsArithmetic(limit_t.data_as<T>()[0]);
  const auto delta = AsArithmetic(delta_t.data_as<T>()[0]);
  if (delta == 0) return ctx.Error("delta is 0");
  int64_t n = 0;
  if constexpr (std::is_integral_v<T>) {
    // Exact ceil((limit - start) / delta) without going through floating point.
    const int64_t diff = int64_t(limit) - int64_t(start);
    const int64_t step = int64_t(delta);
    if ((diff > 0 && step > 0) || (diff < 0 && step < 0)) {
      const int64_t ad = diff > 0 ? diff : -diff;
      const int64_t as = step > 0 ? step : -step;
      n = (ad + as - 1) / as;
    }
  } else {
    n = std::max<int64_t>(int64_t(std::ceil((double(limit) - double(start)) / double(delta))), 0);
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, start_t.dtype(), Shape{n}));
  T* dst = out->mutable_data_as<T>();
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_integral_v<T>) {
      dst[i] = T(int64_t(start) + i * int64_t(delta));
    } else {
      dst[i] = T(double(start) + double(i) * double(delta));
    }
  }
  return Status::Ok();
}

Status Range(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* start, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* limit, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(const Tensor* delta, ctx.RequiredInput(2));
  for (const Tensor* t : {start, limit, delta}) {
    if (t->dtype() != start->dtype() || t->NumElements() != 1) {
      return ctx.Error("start, limit and delta must be single elements of one dtype, found " +
                       std::string(DataTypeName(t->dtype())) + " " + t->shape().ToString());
    }
  }
  Status result;
  REFIT_RETURN_IF_ERROR(DispatchNumeric(
      start->dtype(), [&]<typename T>() { result = FillRange<T>(ctx, *start, *limit, *delta); }));
  return result;
}

}  // namespace

void RegisterShapeOps(KernelRegistry& r) {
  r.Register("Reshape", &Reshape);
  r.Register("Shape", &ShapeOp);
  r.Register("Size", &Size);
  r.Register("Flatten", &Flatten);
  r.Register("Squeeze", &Squeeze);
  r.Register("Unsqueeze", &Unsqueeze);
  r.Register("ConstantOfShape", &ConstantOfShape);
  r.Register("Range", &Range);
  RegisterLayoutOps(r);
  RegisterSliceOps(r);
}

}  // namespace refit::reference
