// Reduce* operators. Axes come from the `axes` input when the node has one (ReduceSum since opset
// 13, the others since 18) and from the attribute otherwise. Empty axes reduce everything unless
// noop_with_empty_axes=1, which makes the node an identity. Folding an axis of size 0 yields the
// identity element of the reduction (0 for sums, 1 for products, -inf/lowest for max).
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/reduce_util.h"

namespace refit::reference {
namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

struct ReducePlan {
  bool noop = false;
  Shape out_shape;
  std::vector<int64_t> group_strides;  // per input axis, 0 where reduced
  int64_t group_size = 1;              // input elements folded into each output element
};

StatusOr<ReducePlan> MakePlan(const KernelContext& ctx, const Shape& in) {
  std::vector<int64_t> axes;
  if (const Tensor* t = ctx.input(1); t != nullptr) {
    auto v = ReadInts(*t);
    if (!v.ok()) return ctx.Error("axes: " + v.status().message());
    axes = std::move(v).value();
  } else {
    REFIT_ASSIGN_OR_RETURN(axes, ctx.attrs().GetInts("axes", {}));
  }
  REFIT_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs().GetInt("keepdims", 1));
  REFIT_ASSIGN_OR_RETURN(int64_t noop, ctx.attrs().GetInt("noop_with_empty_axes", 0));
  ReducePlan plan;
  const int64_t rank = int64_t(in.rank());
  if (axes.empty() && noop != 0) {
    plan.noop = true;
    plan.out_shape = in;
    return plan;
  }
  std::vector<bool> reduced(size_t(rank), axes.empty());
  for (int64_t a : axes) {
    auto n = NormalizeAxis(a, rank);
    if (!n.ok() || rank == 0) {
      return ctx.Error("axis " + std::to_string(a) + " out of range for input of shape " +
                       in.ToString());
    }
    if (reduced[size_t(*n)]) return ctx.Error("axis " + std::to_string(a) + " given twice");
    reduced[size_t(*n)] = true;
  }
  std::vector<int64_t> out_dims;
  for (int64_t a = 0; a < rank; ++a) {
    if (!reduced[size_t(a)]) {
      out_dims.push_back(in[size_t(a)]);
    } else {
      plan.group_size *= in[size_t(a)];
      if (keepdims != 0) out_dims.push_back(1);
    }
  }
  plan.out_shape = Shape(std::move(out_dims));
  plan.group_strides = GroupStrides(in, reduced);
  return plan;
}

// Integers accumulate exactly in int64 where the result stays integral; everything else in double.
template <typename T>
using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

template <typename T>
Acc<T> InitialValue(ReduceKind kind) {
  using Limits = std::numeric_limits<std::conditional_t<std::is_integral_v<T>, T, double>>;
  switch (kind) {
    case ReduceKind::kProd:
      return 1;
    case ReduceKind::kMax:
    case ReduceKind::kLogSumExp:
      return std::is_integral_v<T> ? Acc<T>(Limits::lowest()) : Acc<T>(-Limits::infinity());
    case ReduceKind::kMin:
      return std::is_integral_v<T> ? Acc<T>(Limits::max()) : Acc<T>(Limits::infinity());
    default:
      return 0;
  }
}

template <typename T>
void ReduceTyped(ReduceKind kind, const Tensor& x, const ReducePlan& plan, Tensor& out) {
  const T* in = x.data_as<T>();
  const int64_t n_out = out.NumElements();
  std::vector<Acc<T>> acc(size_t(n_out), InitialValue<T>(kind));
  const Shape& shape = x.shape();
  const auto& gs = plan.group_strides;
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) { acc[g] += Acc<T>(in[i]); });
      break;
    case ReduceKind::kProd:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) { acc[g] *= Acc<T>(in[i]); });
      break;
    case ReduceKind::kL1:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) {
        const Acc<T> v = Acc<T>(in[i]);
        acc[g] += v < 0 ? -v : v;
      });
      break;
    case ReduceKind::kL2:
    case ReduceKind::kSumSquare:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) {
        const Acc<T> v = Acc<T>(in[i]);
        acc[g] += v * v;
      });
      break;
    case ReduceKind::kLogSum:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) { acc[g] += Acc<T>(in[i]); });
      break;
    case ReduceKind::kMax:
    case ReduceKind::kLogSumExp:
      // NaN wins, as in numpy.
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) {
        const Acc<T> v = Acc<T>(in[i]);
        if (v > acc[g] || v != v) acc[g] = v;
      });
      break;
    case ReduceKind::kMin:
      ForEachGrouped(shape, gs, [&](int64_t i, int64_t g) {
        const Acc<T> v = Acc<T>(in[i]);
        if (v < acc[g] || v != v) acc[g] = v;
      });
      break;
  }
  T* o = out.mutable_data_as<T>();
  if (kind == ReduceKind::kLogSumExp) {
    // Shift by the group maximum so large inputs do not overflow exp.
    std::vector<double> sum(size_t(n_out), 0.0);
    std::vector<double> shift(static_cast<size_t>(n_out));
    for (int64_t g = 0; g < n_out; ++g) {
      shift[g] = std::isfinite(double(acc[g])) ? double(acc[g]) : 0.0;
    }
    ForEachGrouped(shape, gs,
                   [&](int64_t i, int64_t g) { sum[g] += std::exp(double(in[i]) - shift[g]); });
    for (int64_t g = 0; g < n_out; ++g) o[g] = FromDouble<T>(std::log(sum[g]) + shift[g]);
    return;
  }
  for (int64_t g = 0; g < n_out; ++g) {
    switch (kind) {
      case ReduceKind::kMean:
        if constexpr (std::is_integral_v<T>) {
          o[g] = plan.group_size == 0 ? T(0) : T(acc[g] / plan.group_size);
        } else {
          o[g] = FromDouble<T>(acc[g] / double(plan.group_size));
        }
        break;
      case ReduceKind::kL2:
        o[g] = FromDouble<T>(std::sqrt(double(acc[g])));
        break;
      case ReduceKind::kLogSum:
        o[g] = FromDouble<T>(std::log(double(acc[g])));
        break;
      default:
        o[g] = FromDouble<T>(double(acc[g]));
        break;
    }
  }
}

template <ReduceKind kKind>
Status Reduce(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(ReducePlan plan, MakePlan(ctx, x->shape()));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), plan.out_shape));
  if (plan.noop) {
    if (x->nbytes() > 0) std::memcpy(out->mutable_data(), x->data(), x->nbytes());
    return Status::Ok();
  }
  Status st =
      DispatchNumeric(x->dtype(), [&]<typename T>() { ReduceTyped<T>(kKind, *x, plan, *out); });
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

}  // namespace

void RegisterReductionOps(KernelRegistry& r) {
  r.Register("ReduceSum", &Reduce<ReduceKind::kSum>);
  r.Register("ReduceMean", &Reduce<ReduceKind::kMean>);
  r.Register("ReduceMax", &Reduce<ReduceKind::kMax>);
  r.Register("ReduceMin", &Reduce<ReduceKind::kMin>);
  r.Register("ReduceProd", &Reduce<ReduceKind::kProd>);
  r.Register("ReduceL1", &Reduce<ReduceKind::kL1>);
  r.Register("ReduceL2", &Reduce<ReduceKind::kL2>);
  r.Register("ReduceSumSquare", &Reduce<ReduceKind::kSumSquare>);
  r.Register("ReduceLogSum", &Reduce<ReduceKind::kLogSum>);
  r.Register("ReduceLogSumExp", &Reduce<ReduceKind::kLogSumExp>);
}

}  // namespace refit::reference
