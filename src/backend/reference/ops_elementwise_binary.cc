// Two-input arithmetic with numpy broadcasting: Add Sub Mul Div Pow Mod BitShift PRelu.
// Comparison, logical and Where operators live in ops_elementwise_logic.cc, the variadic
// Max/Min/Sum/Mean in ops_elementwise_variadic.cc; all register through here.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

enum class ArithOp { kAdd, kSub, kMul, kDiv };

// Integers wrap modulo 2^bits as numpy does (done in uint64 so no signed overflow occurs);
// integer division truncates toward zero, and division by zero yields 0 (numpy's value) instead of
// trapping. Floats compute in ComputeType and round once.
template <ArithOp kOp, typename T>
T Arith(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    const uint64_t ua = uint64_t(a);
    const uint64_t ub = uint64_t(b);
    if constexpr (kOp == ArithOp::kAdd) return T(ua + ub);
    if constexpr (kOp == ArithOp::kSub) return T(ua - ub);
    if constexpr (kOp == ArithOp::kMul) return T(ua * ub);
    if constexpr (kOp == ArithOp::kDiv) {
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(uint64_t(0) - ua);  // INT_MIN / -1 wraps instead of trapping
      }
      return T(a / b);
    }
  } else {
    using C = ComputeType<T>;
    const C x = C(a);
    const C y = C(b);
    if constexpr (kOp == ArithOp::kAdd) return T(x + y);
    if constexpr (kOp == ArithOp::kSub) return T(x - y);
    if constexpr (kOp == ArithOp::kMul) return T(x * y);
    if constexpr (kOp == ArithOp::kDiv) return T(x / y);
  }
}

// out[i] = f(a[...], b[...]) over the broadcast of a and b; `out` is already allocated.
template <typename TA, typename TB, typename TO, typename F>
void Broadcast2(const Tensor& a, const Tensor& b, Tensor* out, F&& f) {
  const TA* pa = a.data_as<TA>();
  const TB* pb = b.data_as<TB>();
  TO* po = out->mutable_data_as<TO>();
  ForEachElement(out->shape(), {&a, &b},
                 [&](int64_t i, const int64_t* off) { po[i] = f(pa[off[0]], pb[off[1]]); });
}

// Inputs 0 and 1 of one numeric dtype, output of that dtype and the broadcast shape.
template <typename Body>
Status SameTypeBinary(KernelContext& ctx, Body&& body) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  if (a->dtype() == DataType::kBool) return DtypeError(ctx, 0, a->dtype(), "a numeric type");
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, 2, a->dtype()));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {a, b}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, a->dtype(), shape));
  return DispatchNumeric(a->dtype(),
                         [&]<typename T>() { body.template operator()<T>(*a, *b, out); });
}

template <ArithOp kOp>
Status Arithmetic(KernelContext& ctx) {
  return SameTypeBinary(ctx, []<typename T>(const Tensor& a, const Tensor& b, Tensor* out) {
    Broadcast2<T, T, T>(a, b, out, [](T x, T y) { return Arith<kOp, T>(x, y); });
  });
}

// Integer powers with a non-negative integer exponent are exact (squaring in uint64 wraps like
// numpy). Everything else goes through std::pow in double and converts to the base's type, which
// truncates for integer bases as numpy's astype does.
template <typename T, typename U>
T PowValue(T base, U exponent) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<U>) {
    if (exponent >= U(0)) {
      uint64_t result = 1;
      uint64_t b = uint64_t(base);
      for (uint64_t e = uint64_t(exponent); e != 0; e >>= 1) {
        if (e & 1) result *= b;
        b *= b;
      }
      return T(result);
    }
  }
  const double r = std::pow(double(ComputeType<T>(base)), double(ComputeType<U>(exponent)));
  if constexpr (std::is_integral_v<T>) {
    return SaturatingFromDouble<T>(r);
  } else {
    return T(ComputeType<T>(r));
  }
}

// Pow allows the exponent a different dtype from the base (opset 12+); the output has the base's.
Status Pow(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  if (a->dtype() == DataType::kBool) return DtypeError(ctx, 0, a->dtype(), "a numeric type");
  if (b->dtype() == DataType::kBool) return DtypeError(ctx, 1, b->dtype(), "a numeric type");
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {a, b}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, a->dtype(), shape));
  Status inner;
  Status outer = DispatchNumeric(a->dtype(), [&]<typename T>() {
    inner = DispatchNumeric(b->dtype(), [&]<typename U>() {
      Broadcast2<T, U, T>(*a, *b, out, [](T x, U y) { return PowValue<T, U>(x, y); });
    });
  });
  REFIT_RETURN_IF_ERROR(outer);
  return inner;
}

// fmod = 0: the result takes the divisor's sign (Python's %); fmod = 1: the dividend's (C's fmod).
template <typename T>
T ModValue(T a, T b, bool fmod) {
  if constexpr (std::is_integral_v<T>) {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);  // avoids the INT_MIN % -1 trap
    }
    T r = T(a % b);
    if (!fmod && r != T(0) && ((r < T(0)) != (b < T(0)))) r = T(r + b);
    return r;
  } else {
    using C = ComputeType<T>;
    const C x = C(a);
    const C y = C(b);
    C r = std::fmod(x, y);
    if (!fmod && r != C(0) && ((r < C(0)) != (y < C(0)))) r += y;
    return T(r);
  }
}

Status Mod(KernelContext& ctx) {
  auto fmod_attr = ctx.attrs().GetInt("fmod", 0);
  if (!fmod_attr.ok()) return ctx.Error(fmod_attr.status().message());
  const bool fmod = *fmod_attr != 0;
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  if (IsFloatingPoint(a->dtype()) && !fmod) {
    return ctx.Error("fmod=0 is not allowed for floating-point input " +
                     std::string(DataTypeName(a->dtype())) + ", expected fmod=1");
  }
  return SameTypeBinary(ctx, [&]<typename T>(const Tensor& x, const Tensor& y, Tensor* out) {
    Broadcast2<T, T, T>(x, y, out, [&](T p, T q) { return ModValue<T>(p, q, fmod); });
  });
}

// Shifts by the bit width or more give 0, as numpy's uint8 shifts do.
Status BitShift(KernelContext& ctx) {
  auto direction = ctx.attrs().GetString("direction", "");
  if (!direction.ok()) return ctx.Error(direction.status().message());
  if (*direction != "LEFT" && *direction != "RIGHT") {
    return ctx.Error("attribute direction is '" + *direction + "', expected LEFT or RIGHT");
  }
  const bool left = *direction == "LEFT";
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  if (a->dtype() != DataType::kU8) {
    return DtypeError(ctx, 0, a->dtype(), "an unsigned integer type (u8 is the one refit has)");
  }
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, 2, a->dtype()));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {a, b}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, a->dtype(), shape));
  Broadcast2<uint8_t, uint8_t, uint8_t>(*a, *b, out, [&](uint8_t v, uint8_t s) -> uint8_t {
    if (s >= 8) return 0;
    return left ? uint8_t(v << s) : uint8_t(v >> s);
  });
  return Status::Ok();
}

// slope broadcasts to x (unidirectionally); y = x where x >= 0, slope * x elsewhere.
Status PRelu(KernelContext& ctx) {
  return SameTypeBinary(ctx, []<typename T>(const Tensor& x, const Tensor& slope, Tensor* out) {
    Broadcast2<T, T, T>(x, slope, out, [](T v, T s) {
      return ComputeType<T>(v) < ComputeType<T>(0) ? Arith<ArithOp::kMul, T>(v, s) : v;
    });
  });
}

}  // namespace

void RegisterElementwiseBinaryOps(KernelRegistry& r) {
  r.Register("Add", &Arithmetic<ArithOp::kAdd>);
  r.Register("Sub", &Arithmetic<ArithOp::kSub>);
  r.Register("Mul", &Arithmetic<ArithOp::kMul>);
  r.Register("Div", &Arithmetic<ArithOp::kDiv>);
  r.Register("Pow", &Pow);
  r.Register("Mod", &Mod);
  r.Register("BitShift", &BitShift);
  r.Register("PRelu", &PRelu);
  RegisterElementwiseLogicOps(r);
  RegisterElementwiseVariadicOps(r);
}

}  // namespace refit::reference
