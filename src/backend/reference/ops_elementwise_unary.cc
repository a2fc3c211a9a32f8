// One-input element-wise operators: Abs Neg Sign Ceil Floor Round Reciprocal Sqrt Exp Log Erf
// Tanh Sigmoid Sin Cos Not IsNaN IsInf.
#include <cmath>
#include <type_traits>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

// Two's-complement negation without signed overflow (numpy wraps INT_MIN to itself).
template <typename C>
C WrapNegate(C v) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    return C(U(0) - U(v));
  } else {
    return -v;
  }
}

Status Abs(KernelContext& ctx) {
  return MapNumeric(ctx, []<typename C>(C v) -> C {
    if constexpr (std::is_unsigned_v<C>) {
      return v;
    } else {
      return v < C(0) ? WrapNegate(v) : v;
    }
  });
}

Status Neg(KernelContext& ctx) {
  return MapNumeric(ctx, []<typename C>(C v) -> C { return WrapNegate(v); });
}

Status Sign(KernelContext& ctx) {
  return MapNumeric(ctx, []<typename C>(C v) -> C {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(v)) return v;
    }
    return C(int(C(0) < v) - int(v < C(0)));
  });
}

Status Ceil(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::ceil(v); });
}
Status Floor(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::floor(v); });
}
// Halves go to the even neighbour, as numpy.round and the ONNX spec require.
Status Round(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::nearbyint(v); });
}
Status Reciprocal(KernelContext& ctx) {
  return MapFloat(ctx, []<typename C>(C v) { return C(1) / v; });
}
Status Sqrt(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::sqrt(v); });
}
Status Exp(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::exp(v); });
}
Status Log(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::log(v); });
}
Status Erf(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::erf(v); });
}
Status Tanh(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::tanh(v); });
}
Status Sin(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::sin(v); });
}
Status Cos(KernelContext& ctx) {
  return MapFloat(ctx, [](auto v) { return std::cos(v); });
}

// Written so exp() never overflows: for large |x| the naive 1 / (1 + exp(-x)) gives inf / NaN
// intermediates in float.
Status Sigmoid(KernelContext& ctx) {
  return MapFloat(ctx, []<typename C>(C v) -> C {
    if (v >= C(0)) return C(1) / (C(1) + std::exp(-v));
    const C e = std::exp(v);
    return e / (C(1) + e);
  });
}

Status Not(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (x->dtype() != DataType::kBool) return DtypeError(ctx, 0, x->dtype(), "bool");
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DataType::kBool, x->shape()));
  const bool* a = x->data_as<bool>();
  bool* b = y->mutable_data_as<bool>();
  for (int64_t i = 0; i < x->NumElements(); ++i) b[i] = !a[i];
  return Status::Ok();
}

// Float input, bool output: IsNaN, IsInf (detect_positive / detect_negative attributes).
template <typename Pred>
Status FloatPredicate(KernelContext& ctx, Pred pred) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (!IsFloatingPoint(x->dtype())) return DtypeError(ctx, 0, x->dtype(), "a floating-point type");
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DataType::kBool, x->shape()));
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* a = x->data_as<T>();
    bool* b = y->mutable_data_as<bool>();
    for (int64_t i = 0; i < x->NumElements(); ++i) b[i] = pred(double(a[i]));
  });
}

Status IsNaN(KernelContext& ctx) {
  return FloatPredicate(ctx, [](double v) { return std::isnan(v); });
}

Status IsInf(KernelContext& ctx) {
  auto pos = ctx.attrs().GetInt("detect_positive", 1);
  auto neg = ctx.attrs().GetInt("detect_negative", 1);
  if (!pos.ok()) return ctx.Error(pos.status().message());
  if (!neg.ok()) return ctx.Error(neg.status().message());
  const bool detect_pos = *pos != 0;
  const bool detect_neg = *neg != 0;
  return FloatPredicate(ctx, [&](double v) {
    return std::isinf(v) && ((v > 0 && detect_pos) || (v < 0 && detect_neg));
  });
}

}  // namespace

void RegisterElementwiseUnaryOps(KernelRegistry& r) {
  r.Register("Abs", &Abs);
  r.Register("Neg", &Neg);
  r.Register("Sign", &Sign);
  r.Register("Ceil", &Ceil);
  r.Register("Floor", &Floor);
  r.Register("Round", &Round);
  r.Register("Reciprocal", &Reciprocal);
  r.Register("Sqrt", &Sqrt);
  r.Register("Exp", &Exp);
  r.Register("Log", &Log);
  r.Register("Erf", &Erf);
  r.Register("Tanh", &Tanh);
  r.Register("Sin", &Sin);
  r.Register("Cos", &Cos);
  r.Register("Sigmoid", &Sigmoid);
  r.Register("Not", &Not);
  r.Register("IsNaN", &IsNaN);
  r.Register("IsInf", &IsInf);
}

}  // namespace refit::reference
