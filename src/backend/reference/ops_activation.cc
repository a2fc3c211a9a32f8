// Activation functions: Relu LeakyRelu Elu Celu Selu ThresholdedRelu HardSigmoid HardSwish
// Softplus Softsign Shrink Clip.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

// Integer dtypes are allowed since opset 14.
Status Relu(KernelContext& ctx) {
  return MapNumeric(ctx, []<typename C>(C v) -> C { return v > C(0) ? v : C(0); });
}

Status LeakyRelu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 0.01f));
  return MapFloat(ctx, [&]<typename C>(C v) -> C { return v < C(0) ? C(alpha) * v : v; });
}

Status Elu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 1.0f));
  return MapFloat(
      ctx, [&]<typename C>(C v) -> C { return v < C(0) ? C(alpha) * (std::exp(v) - C(1)) : v; });
}

Status Celu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 1.0f));
  return MapFloat(ctx, [&]<typename C>(C v) -> C {
    return std::max(C(0), v) + std::min(C(0), C(alpha) * (std::exp(v / C(alpha)) - C(1)));
  });
}

// Defaults are the float32 values the ONNX spec gives (1.67326319217681884765625 and
// 1.05070102214813232421875).
Status Selu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 1.67326319217681884765625f));
  REFIT_ASSIGN_OR_RETURN(const float gamma, FloatAttr(ctx, "gamma", 1.05070102214813232421875f));
  return MapFloat(ctx, [&]<typename C>(C v) -> C {
    return v > C(0) ? C(gamma) * v : C(gamma) * (C(alpha) * std::exp(v) - C(alpha));
  });
}

Status ThresholdedRelu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 1.0f));
  return MapFloat(ctx, [&]<typename C>(C v) -> C { return v > C(alpha) ? v : C(0); });
}

Status HardSigmoid(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float alpha, FloatAttr(ctx, "alpha", 0.2f));
  REFIT_ASSIGN_OR_RETURN(const float beta, FloatAttr(ctx, "beta", 0.5f));
  return MapFloat(ctx, [&]<typename C>(C v) -> C {
    return std::max(C(0), std::min(C(1), C(alpha) * v + C(beta)));
  });
}

// x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
Status HardSwish(KernelContext& ctx) {
  return MapFloat(ctx, []<typename C>(C v) -> C {
    return v * std::max(C(0), std::min(C(1), v / C(6) + C(0.5)));
  });
}

// log(1 + exp(x)) written so exp() cannot overflow for large x.
Status Softplus(KernelContext& ctx) {
  return MapFloat(ctx, []<typename C>(C v) -> C {
    return v > C(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
  });
}

Status Softsign(KernelContext& ctx) {
  return MapFloat(ctx, []<typename C>(C v) -> C { return v / (C(1) + std::abs(v)); });
}

Status Shrink(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const float lambd, FloatAttr(ctx, "lambd", 0.5f));
  REFIT_ASSIGN_OR_RETURN(const float bias, FloatAttr(ctx, "bias", 0.0f));
  return MapNumeric(ctx, [&]<typename C>(C v) -> C {
    const double d = double(v);
    if (d < -lambd) return C(d + bias);
    if (d > lambd) return C(d - bias);
    return C(0);
  });
}

// Reads an optional scalar bound of Clip (input `index`) into `bound`.
template <typename T>
Status ReadClipBound(const KernelContext& ctx, size_t index, ComputeType<T>* bound) {
  const Tensor* t = ctx.input(index);
  if (t == nullptr) return Status::Ok();
  if (t->NumElements() != 1) {
    return ctx.Error("input " + std::to_string(index) + " must be a scalar, found shape " +
                     t->shape().ToString());
  }
  *bound = ComputeType<T>(t->data_as<T>()[0]);
  return Status::Ok();
}

// Bounds are attributes (floats) before opset 11 and optional scalar inputs from opset 11 on.
// With min > max every element becomes max, as the spec and numpy.clip do.
Status Clip(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (x->dtype() == DataType::kBool) return DtypeError(ctx, 0, x->dtype(), "a numeric type");
  if (ctx.opset >= 11) REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, 0, 3, x->dtype()));
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  Status bound_status;
  Status s = DispatchNumeric(x->dtype(), [&]<typename T>() {
    using C = ComputeType<T>;
    C lo = std::numeric_limits<C>::lowest();
    C hi = std::numeric_limits<C>::max();
    if constexpr (std::is_floating_point_v<C>) {
      lo = -std::numeric_limits<C>::infinity();
      hi = std::numeric_limits<C>::infinity();
    }
    if (ctx.opset < 11) {
      auto min_attr = FloatAttr(ctx, "min", -std::numeric_limits<float>::infinity());
      auto max_attr = FloatAttr(ctx, "max", std::numeric_limits<float>::infinity());
      if (!min_attr.ok() || !max_attr.ok()) {
        bound_status = !min_attr.ok() ? min_attr.status() : max_attr.status();
        return;
      }
      if (ctx.attrs().Has("min")) lo = C(*min_attr);
      if (ctx.attrs().Has("max")) hi = C(*max_attr);
    } else {
      bound_status = ReadClipBound<T>(ctx, 1, &lo);
      if (bound_status.ok()) bound_status = ReadClipBound<T>(ctx, 2, &hi);
      if (!bound_status.ok()) return;
    }
    // std::max / std::min keep a NaN x (numpy.clip passes NaN through).
    MapInto<T>(*x, y, [&](C v) { return std::min(std::max(v, lo), hi); });
  });
  REFIT_RETURN_IF_ERROR(s);
  return bound_status;
}

}  // namespace

void RegisterActivationOps(KernelRegistry& r) {
  r.Register("Relu", &Relu);
  r.Register("LeakyRelu", &LeakyRelu);
  r.Register("Elu", &Elu);
  r.Register("Celu", &Celu);
  r.Register("Selu", &Selu);
  r.Register("ThresholdedRelu", &ThresholdedRelu);
  r.Register("HardSigmoid", &HardSigmoid);
  r.Register("HardSwish", &HardSwish);
  r.Register("Softplus", &Softplus);
  r.Register("Softsign", &Softsign);
  r.Register("Shrink", &Shrink);
  r.Register("Clip", &Clip);
}

}  // namespace refit::reference
