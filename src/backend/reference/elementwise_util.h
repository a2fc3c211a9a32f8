// Helpers shared by the element-wise reference kernels (unary, binary, activation, cast): the
// arithmetic type of each element type, dtype checks with messages, one-input maps and N-input
// numpy broadcasting. Header-only templates.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "refit/tensor.h"

namespace refit::reference {

// Parts of the element-wise families kept in their own files; RegisterElementwiseBinaryOps and
// RegisterCastOps call them.
void RegisterElementwiseLogicOps(KernelRegistry& r);     // ops_elementwise_logic.cc
void RegisterElementwiseVariadicOps(KernelRegistry& r);  // ops_elementwise_variadic.cc
void RegisterPassthroughOps(KernelRegistry& r);          // ops_passthrough.cc

// Half and BFloat16 compute in float and round once when stored, as numpy does for float16
// ufuncs; every other type computes in itself.
template <typename T>
struct ComputeTypeOf {
  using type = T;
};
template <>
struct ComputeTypeOf<Half> {
  using type = float;
};
template <>
struct ComputeTypeOf<BFloat16> {
  using type = float;
};
template <typename T>
using ComputeType = typename ComputeTypeOf<T>::type;

// Converts a double to an integer type by truncation toward zero. Out-of-range values saturate
// and NaN becomes 0: the C++ conversion is undefined there, and ONNX leaves the result unspecified.
template <typename T>
T SaturatingFromDouble(double v) {
  static_assert(std::is_integral_v<T>);
  if (std::isnan(v)) return T(0);
  if (v <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  // 2^63 is exactly representable while INT64_MAX is not: compare against the bound above it.
  if (v >= std::ldexp(1.0, std::numeric_limits<T>::digits)) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// "input 1 has dtype i32, expected <what>" through ctx.Error.
inline Status DtypeError(const KernelContext& ctx, size_t input, DataType found,
                         const std::string& expected) {
  return ctx.Error("input " + std::to_string(input) + " has dtype " +
                   std::string(DataTypeName(found)) + ", expected " + expected);
}

// Checks that every present input among the first `count` has `dtype`.
inline Status CheckSameDtype(const KernelContext& ctx, size_t first, size_t count, DataType dtype) {
  for (size_t i = first; i < first + count && i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.input(i);
    if (t != nullptr && t->dtype() != dtype) {
      return DtypeError(ctx, i, t->dtype(),
                        std::string(DataTypeName(dtype)) + " like input " + std::to_string(first));
    }
  }
  return Status::Ok();
}

// The numpy broadcast of the shapes of `ins` (all non-null); the error names the node.
inline StatusOr<Shape> BroadcastAll(const KernelContext& ctx,
                                    const std::vector<const Tensor*>& ins) {
  Shape out = ins.at(0)->shape();
  for (size_t i = 1; i < ins.size(); ++i) {
    auto s = BroadcastShapes(out, ins[i]->shape());
    if (!s.ok()) return ctx.Error(s.status().message());
    out = std::move(s).value();
  }
  return out;
}

// Like ForEachBroadcast, with a fast path when no input is actually broadcast (the common case:
// residual additions, activations).
template <typename F>
void ForEachElement(const Shape& out, const std::vector<const Tensor*>& ins, F&& f) {
  bool same = true;
  for (const Tensor* t : ins) same = same && t->shape() == out;
  if (same) {
    std::vector<int64_t> offsets(ins.size(), 0);
    const int64_t n = out.NumElements();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t& o : offsets) o = i;
      f(i, offsets.data());
    }
    return;
  }
  std::vector<Shape> shapes;
  for (const Tensor* t : ins) shapes.push_back(t->shape());
  ForEachBroadcast(out, shapes, f);
}

// y = f(x) element-wise with y of x's dtype; f receives and returns ComputeType<T>.
template <typename T, typename F>
void MapInto(const Tensor& x, Tensor* y, F&& f) {
  using C = ComputeType<T>;
  const T* a = x.data_as<T>();
  T* b = y->mutable_data_as<T>();
  const int64_t n = x.NumElements();
  for (int64_t i = 0; i < n; ++i) b[i] = T(f(C(a[i])));
}

// Element-wise kernel body over input 0 for floating-point dtypes.
template <typename F>
Status MapFloat(KernelContext& ctx, F&& f) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (!IsFloatingPoint(x->dtype())) return DtypeError(ctx, 0, x->dtype(), "a floating-point type");
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return DispatchFloat(x->dtype(), [&]<typename T>() { MapInto<T>(*x, y, f); });
}

// Element-wise kernel body over input 0 for floating-point and integer dtypes.
template <typename F>
Status MapNumeric(KernelContext& ctx, F&& f) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (x->dtype() == DataType::kBool) return DtypeError(ctx, 0, x->dtype(), "a numeric type");
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return DispatchNumeric(x->dtype(), [&]<typename T>() { MapInto<T>(*x, y, f); });
}

// Float attribute with a default, or the attribute's type error.
inline StatusOr<float> FloatAttr(const KernelContext& ctx, const char* name, float def) {
  auto v = ctx.attrs().GetFloat(name, def);
  if (!v.ok()) return ctx.Error(v.status().message());
  return v;
}

}  // namespace refit::reference
