// Operators that pass a tensor through or produce one from attributes: Identity, Dropout,
// Constant. Registered by RegisterCastOps.
#include <random>

#include "backend/reference/elementwise_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

Status Identity(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  if (ctx.outputs.empty()) return ctx.Error("expected one output, found none");
  ctx.outputs[0] = x->Clone();
  return Status::Ok();
}

// Fills output 1 (the mask) when the node has it: bool from opset 10, the input's dtype before.
Status AllocateMask(KernelContext& ctx, const Tensor& x, Tensor** mask) {
  *mask = nullptr;
  if (ctx.outputs.size() < 2 || ctx.node.outputs.size() < 2 || ctx.node.outputs[1].empty()) {
    return Status::Ok();
  }
  const DataType dtype = ctx.opset >= 10 ? DataType::kBool : x.dtype();
  REFIT_ASSIGN_OR_RETURN(*mask, ctx.AllocateOutput(1, dtype, x.shape()));
  return Status::Ok();
}

// Inference (the default) is the identity with an all-true mask. Training mode exists only from
// opset 12 (input 2); it drops elements with probability `ratio` from a generator seeded by the
// `seed` attribute (0 when absent, so runs repeat) and scales the rest by 1 / (1 - ratio). Its
// random stream cannot match another framework's.
Status Dropout(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  float ratio = 0.5f;
  bool training = false;
  if (ctx.opset >= 12) {
    if (const Tensor* r = ctx.input(1)) {
      if (r->NumElements() != 1 || !IsFloatingPoint(r->dtype())) {
        return ctx.Error("ratio (input 1) must be a floating-point scalar, found " +
                         std::string(DataTypeName(r->dtype())) + " " + r->shape().ToString());
      }
      ratio = float(ReadScalarAsDouble(*r));
    }
    if (const Tensor* t = ctx.input(2)) {
      if (t->NumElements() != 1 || t->dtype() != DataType::kBool) {
        return ctx.Error("training_mode (input 2) must be a bool scalar, found " +
                         std::string(DataTypeName(t->dtype())) + " " + t->shape().ToString());
      }
      training = t->data_as<bool>()[0];
    }
  }
  if (training && (ratio < 0.0f || ratio > 1.0f)) {
    return ctx.Error("ratio must be in [0, 1], found " + std::to_string(ratio));
  }
  Tensor* mask = nullptr;
  REFIT_RETURN_IF_ERROR(AllocateMask(ctx, *x, &mask));
  if (!training || ratio == 0.0f) {
    ctx.outputs[0] = x->Clone();
    if (mask != nullptr) {
      return DispatchAll(mask->dtype(), [&]<typename M>() {
        M* m = mask->mutable_data_as<M>();
        for (int64_t i = 0; i < mask->NumElements(); ++i) m[i] = M(ComputeType<M>(1));
      });
    }
    return Status::Ok();
  }
  if (!IsFloatingPoint(x->dtype())) return DtypeError(ctx, 0, x->dtype(), "a floating-point type");
  auto seed = ctx.attrs().GetInt("seed", 0);
  if (!seed.ok()) return ctx.Error(seed.status().message());
  std::mt19937_64 gen{uint64_t(*seed)};
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  const double scale = ratio >= 1.0f ? 0.0 : 1.0 / (1.0 - double(ratio));
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* a = x->data_as<T>();
    T* b = y->mutable_data_as<T>();
    for (int64_t i = 0; i < x->NumElements(); ++i) {
      const bool keep = uniform(gen) >= double(ratio);
      b[i] = keep ? T(ComputeType<T>(double(a[i]) * scale)) : T(ComputeType<T>(0));
      if (mask != nullptr) mask->mutable_data_as<bool>()[i] = keep;
    }
  });
}

Status Constant(KernelContext& ctx) {
  const ir::AttributeMap& attrs = ctx.attrs();
  if (attrs.Has("sparse_value")) {
    return Unimplemented("node '" + ctx.node.name +
                         "' (Constant): sparse_value is not supported; use a dense 'value'");
  }
  if (attrs.Has("value_string") || attrs.Has("value_strings")) {
    return Unimplemented("node '" + ctx.node.name +
                         "' (Constant): string constants are not supported (no string dtype)");
  }
  if (attrs.Has("value")) {
    auto t = attrs.GetTensor("value");
    if (!t.ok()) return ctx.Error(t.status().message());
    if (*t == nullptr) return ctx.Error("attribute 'value' holds no tensor");
    ctx.outputs.at(0) = (*t)->Clone();
    return Status::Ok();
  }
  if (attrs.Has("value_float")) {
    REFIT_ASSIGN_OR_RETURN(const float v, FloatAttr(ctx, "value_float", 0.0f));
    ctx.outputs.at(0) = Tensor::FromVector<float>(Shape{}, {v});
    return Status::Ok();
  }
  if (attrs.Has("value_floats")) {
    auto v = attrs.GetFloats("value_floats");
    if (!v.ok()) return ctx.Error(v.status().message());
    ctx.outputs.at(0) = Tensor::FromVector<float>(Shape{int64_t(v->size())}, *v);
    return Status::Ok();
  }
  if (attrs.Has("value_int")) {
    auto v = attrs.GetInt("value_int", 0);
    if (!v.ok()) return ctx.Error(v.status().message());
    ctx.outputs.at(0) = Tensor::FromVector<int64_t>(Shape{}, {*v});
    return Status::Ok();
  }
  if (attrs.Has("value_ints")) {
    auto v = attrs.GetInts("value_ints");
    if (!v.ok()) return ctx.Error(v.status().message());
    ctx.outputs.at(0) = Tensor::FromVector<int64_t>(Shape{int64_t(v->size())}, *v);
    return Status::Ok();
  }
  return ctx.Error(
      "expected one of the attributes value, value_float, value_floats, value_int, value_ints");
}

}  // namespace

void RegisterPassthroughOps(KernelRegistry& r) {
  r.Register("Identity", &Identity);
  r.Register("Dropout", &Dropout);
  r.Register("Constant", &Constant);
}

}  // namespace refit::reference
