// Comparisons (Equal Greater Less GreaterOrEqual LessOrEqual), logical operators (And Or Xor) and
// Where, all with numpy broadcasting and bool results or conditions.
#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

enum class CompareOp { kEqual, kGreater, kLess, kGreaterOrEqual, kLessOrEqual };

// Inputs of one dtype (bool included), bool output. Half and BFloat16 compare as floats; NaN
// follows IEEE rules (every comparison false), as in numpy.
template <CompareOp kOp>
Status Compare(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, 2, a->dtype()));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {a, b}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DataType::kBool, shape));
  return DispatchAll(a->dtype(), [&]<typename T>() {
    using C = ComputeType<T>;
    const T* pa = a->data_as<T>();
    const T* pb = b->data_as<T>();
    bool* po = out->mutable_data_as<bool>();
    ForEachElement(shape, {a, b}, [&](int64_t i, const int64_t* off) {
      const C x = C(pa[off[0]]);
      const C y = C(pb[off[1]]);
      if constexpr (kOp == CompareOp::kEqual) po[i] = x == y;
      if constexpr (kOp == CompareOp::kGreater) po[i] = x > y;
      if constexpr (kOp == CompareOp::kLess) po[i] = x < y;
      if constexpr (kOp == CompareOp::kGreaterOrEqual) po[i] = x >= y;
      if constexpr (kOp == CompareOp::kLessOrEqual) po[i] = x <= y;
    });
  });
}

enum class LogicOp { kAnd, kOr, kXor };

template <LogicOp kOp>
Status Logical(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequiredInput(1));
  if (a->dtype() != DataType::kBool) return DtypeError(ctx, 0, a->dtype(), "bool");
  if (b->dtype() != DataType::kBool) return DtypeError(ctx, 1, b->dtype(), "bool");
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {a, b}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DataType::kBool, shape));
  const bool* pa = a->data_as<bool>();
  const bool* pb = b->data_as<bool>();
  bool* po = out->mutable_data_as<bool>();
  ForEachElement(shape, {a, b}, [&](int64_t i, const int64_t* off) {
    const bool x = pa[off[0]];
    const bool y = pb[off[1]];
    if constexpr (kOp == LogicOp::kAnd) po[i] = x && y;
    if constexpr (kOp == LogicOp::kOr) po[i] = x || y;
    if constexpr (kOp == LogicOp::kXor) po[i] = x != y;
  });
  return Status::Ok();
}

// Where(condition, X, Y): X where condition is true, else Y; all three broadcast together.
Status Where(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* cond, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(const Tensor* y, ctx.RequiredInput(2));
  if (cond->dtype() != DataType::kBool) return DtypeError(ctx, 0, cond->dtype(), "bool");
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 1, 2, x->dtype()));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, {cond, x, y}));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), shape));
  return DispatchAll(x->dtype(), [&]<typename T>() {
    const bool* pc = cond->data_as<bool>();
    const T* px = x->data_as<T>();
    const T* py = y->data_as<T>();
    T* po = out->mutable_data_as<T>();
    ForEachElement(shape, {cond, x, y}, [&](int64_t i, const int64_t* off) {
      po[i] = pc[off[0]] ? px[off[1]] : py[off[2]];
    });
  });
}

}  // namespace

void RegisterElementwiseLogicOps(KernelRegistry& r) {
  r.Register("Equal", &Compare<CompareOp::kEqual>);
  r.Register("Greater", &Compare<CompareOp::kGreater>);
  r.Register("Less", &Compare<CompareOp::kLess>);
  r.Register("GreaterOrEqual", &Compare<CompareOp::kGreaterOrEqual>);
  r.Register("LessOrEqual", &Compare<CompareOp::kLessOrEqual>);
  r.Register("And", &Logical<LogicOp::kAnd>);
  r.Register("Or", &Logical<LogicOp::kOr>);
  r.Register("Xor", &Logical<LogicOp::kXor>);
  r.Register("Where", &Where);
}

}  // namespace refit::reference
