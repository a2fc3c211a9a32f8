// Variadic element-wise operators with numpy broadcasting over all inputs: Max Min Sum Mean.
#include <cmath>
#include <type_traits>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

enum class VariadicOp { kMax, kMin, kSum, kMean };

// NaN wins Max and Min, as numpy.maximum / numpy.minimum propagate it.
template <VariadicOp kOp, typename C>
C Combine(C acc, C v) {
  if constexpr (kOp == VariadicOp::kSum || kOp == VariadicOp::kMean) {
    return acc + v;
  } else {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(acc) || std::isnan(v)) return std::isnan(acc) ? acc : v;
    }
    if constexpr (kOp == VariadicOp::kMax) return v > acc ? v : acc;
    return v < acc ? v : acc;
  }
}

template <VariadicOp kOp>
Status Variadic(KernelContext& ctx) {
  constexpr bool kFloatOnly = kOp == VariadicOp::kSum || kOp == VariadicOp::kMean;
  if (ctx.num_inputs() == 0) return ctx.Error("expected at least one input, found none");
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    REFIT_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequiredInput(i));
    ins.push_back(t);
  }
  const DataType dtype = ins[0]->dtype();
  if (kFloatOnly && !IsFloatingPoint(dtype)) {
    return DtypeError(ctx, 0, dtype, "a floating-point type");
  }
  if (dtype == DataType::kBool) return DtypeError(ctx, 0, dtype, "a numeric type");
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, ins.size(), dtype));
  REFIT_ASSIGN_OR_RETURN(Shape shape, BroadcastAll(ctx, ins));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, dtype, shape));
  return DispatchNumeric(dtype, [&]<typename T>() {
    using C = ComputeType<T>;
    std::vector<const T*> data;
    for (const Tensor* t : ins) data.push_back(t->data_as<T>());
    T* po = out->mutable_data_as<T>();
    const size_t n = ins.size();
    ForEachElement(shape, ins, [&](int64_t i, const int64_t* off) {
      C acc = C(data[0][off[0]]);
      for (size_t k = 1; k < n; ++k) acc = Combine<kOp, C>(acc, C(data[k][off[k]]));
      if constexpr (kOp == VariadicOp::kMean) acc = acc / C(n);
      po[i] = T(acc);
    });
  });
}

}  // namespace

void RegisterElementwiseVariadicOps(KernelRegistry& r) {
  r.Register("Max", &Variadic<VariadicOp::kMax>);
  r.Register("Min", &Variadic<VariadicOp::kMin>);
  r.Register("Sum", &Variadic<VariadicOp::kSum>);
  r.Register("Mean", &Variadic<VariadicOp::kMean>);
}

}  // namespace refit::reference
