// Cast and CastLike between every pair of refit dtypes. Identity, Dropout and Constant live in
// ops_passthrough.cc and register through here.
//
// Conversions follow numpy's astype where it is defined: float to integer truncates toward zero,
// anything to bool is "!= 0" (NaN is true), bool to a number is 0 or 1, integer to integer wraps.
// Where C++ and ONNX leave it undefined (a float out of the integer's range, NaN) the result
// saturates and NaN becomes 0. Strings are not a refit dtype.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

// double -> float rounding to odd: a later rounding of the result to f16 or bf16 then equals the
// direct rounding of the double, where plain double -> float -> f16 could round twice.
float RoundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (double(f) == d || std::isnan(d) || std::isinf(f)) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 1u) == 0) {
    // f is even, so the odd neighbour on the other side of d is the round-to-odd result.
    const bool away_from_zero = std::abs(double(f)) > std::abs(d);
    bits = away_from_zero ? bits - 1 : bits + 1;
    std::memcpy(&f, &bits, 4);
  }
  return f;
}

template <typename D, typename S>
D CastValue(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return ComputeType<S>(v) != ComputeType<S>(0);
  } else if constexpr (std::is_same_v<S, bool>) {
    return D(ComputeType<D>(v ? 1 : 0));
  } else if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) {
    return static_cast<D>(v);  // modular since C++20
  } else if constexpr (std::is_integral_v<D>) {
    return SaturatingFromDouble<D>(double(ComputeType<S>(v)));
  } else if constexpr (std::is_same_v<D, float> || std::is_same_v<D, double>) {
    return static_cast<D>(ComputeType<S>(v));
  } else if constexpr (std::is_same_v<S, double> || std::is_integral_v<S>) {
    return D(RoundToOddFloat(double(v)));  // to f16 / bf16 with a single rounding
  } else {
    return D(float(v));  // f32 / f16 / bf16 to f16 / bf16: float holds the value exactly
  }
}

Status CastTo(KernelContext& ctx, const Tensor& x, DataType to) {
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, to, x.shape()));
  Status inner;
  Status outer = DispatchAll(x.dtype(), [&]<typename S>() {
    inner = DispatchAll(to, [&]<typename D>() {
      const S* a = x.data_as<S>();
      D* b = y->mutable_data_as<D>();
      const int64_t n = x.NumElements();
      for (int64_t i = 0; i < n; ++i) b[i] = CastValue<D, S>(a[i]);
    });
  });
  REFIT_RETURN_IF_ERROR(outer);
  return inner;
}

Status Cast(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (!ctx.attrs().Has("to")) return ctx.Error("attribute 'to' is missing");
  auto to = ctx.attrs().GetInt("to", 0);
  if (!to.ok()) return ctx.Error(to.status().message());
  const std::optional<DataType> dtype = DataTypeFromOnnx(int(*to));
  if (!dtype) {
    // 8 = STRING, 4/12/13 = unsigned 16/32/64-bit, 14/15 = complex.
    return Unimplemented("node '" + ctx.node.name + "' (Cast): target ONNX type " +
                         std::to_string(*to) + " is not a refit dtype");
  }
  return CastTo(ctx, *x, *dtype);
}

// CastLike (opset 15): the target dtype is that of input 1.
Status CastLike(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* like, ctx.RequiredInput(1));
  return CastTo(ctx, *x, like->dtype());
}

}  // namespace

void RegisterCastOps(KernelRegistry& r) {
  r.Register("Cast", &Cast);
  r.Register("CastLike", &CastLike);
  RegisterPassthroughOps(r);
}

}  // namespace refit::reference
