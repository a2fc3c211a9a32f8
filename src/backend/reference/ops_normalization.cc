// BatchNormalization (inference and training mode), InstanceNormalization, LayerNormalization and
// MeanVarianceNormalization. Statistics are computed in double whatever the element type, so the
// oracle is at least as accurate as the numpy reference that produced the node tests.
#include <cmath>
#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/reduce_util.h"
#include "ir/fused_ops.h"

namespace refit::reference {
namespace {

bool OutputRequested(const KernelContext& ctx, size_t i) {
  return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty();
}

// Per-channel mean and biased variance of x seen as [n, channels, inner].
template <typename T>
void ChannelStats(const T* x, int64_t n, int64_t channels, int64_t inner, std::vector<double>& mean,
                  std::vector<double>& var) {
  mean.assign(size_t(channels), 0.0);
  var.assign(size_t(channels), 0.0);
  const double count = double(n * inner);
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * channels + c) * inner;
      for (int64_t k = 0; k < inner; ++k) s += double(p[k]);
    }
    const double m = s / count;
    double ss = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * channels + c) * inner;
      for (int64_t k = 0; k < inner; ++k) ss += (double(p[k]) - m) * (double(p[k]) - m);
    }
    mean[c] = m;
    var[c] = ss / count;
  }
}

Status BatchNormalization(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& shape = x->shape();
  if (shape.rank() < 2) {
    return ctx.Error("input X must have rank >= 2 (N x C x ...), got shape " + shape.ToString());
  }
  REFIT_ASSIGN_OR_RETURN(float epsilon, ctx.attrs().GetFloat("epsilon", 1e-5f));
  REFIT_ASSIGN_OR_RETURN(float momentum, ctx.attrs().GetFloat("momentum", 0.9f));
  REFIT_ASSIGN_OR_RETURN(int64_t spatial, ctx.attrs().GetInt("spatial", 1));
  REFIT_ASSIGN_OR_RETURN(int64_t training_mode, ctx.attrs().GetInt("training_mode", 0));
  const int64_t n = shape[0];
  int64_t channels = shape[1];
  int64_t inner = 1;
  for (size_t a = 2; a < shape.rank(); ++a) inner *= shape[a];
  if (ctx.opset < 9 && spatial == 0) {  // one statistic per (C, D1, ...) element
    channels *= inner;
    inner = 1;
  }
  // Before opset 14 training mode is signalled by asking for the statistics outputs.
  const bool training = ctx.opset >= 14 ? training_mode != 0 : OutputRequested(ctx, 1);
  if (ctx.opset < 14 && (OutputRequested(ctx, 3) || OutputRequested(ctx, 4))) {
    return Unimplemented("node '" + ctx.node.name +
                         "' (BatchNormalization): saved_mean/saved_var outputs of opset < 14");
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<double> scale, ReadParam(ctx, 1, "scale", channels));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> bias, ReadParam(ctx, 2, "B", channels));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> mean, ReadParam(ctx, 3, "input_mean", channels));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> var, ReadParam(ctx, 4, "input_var", channels));
  // In training mode Y uses the batch statistics; the running ones only feed outputs 1 and 2.
  std::vector<double> norm_mean = mean;
  std::vector<double> norm_var = var;
  Status st = Status::Ok();
  if (training) {
    st = DispatchFloat(x->dtype(), [&]<typename T>() {
      ChannelStats(x->data_as<T>(), n, channels, inner, norm_mean, norm_var);
    });
    if (!st.ok()) return ctx.Error(st.message());
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), shape));
  st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* out = y->mutable_data_as<T>();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t c = 0; c < channels; ++c) {
        const double a = scale[c] / std::sqrt(norm_var[c] + double(epsilon));
        const int64_t base = (b * channels + c) * inner;
        for (int64_t k = 0; k < inner; ++k) {
          out[base + k] = FromDouble<T>((double(in[base + k]) - norm_mean[c]) * a + bias[c]);
        }
      }
    }
  });
  if (!st.ok()) return ctx.Error(st.message());
  if (!training) return Status::Ok();
  for (size_t i = 1; i <= 2; ++i) {
    if (!OutputRequested(ctx, i)) continue;
    const Tensor* running = ctx.input(i + 2);
    const std::vector<double>& old = i == 1 ? mean : var;
    const std::vector<double>& batch = i == 1 ? norm_mean : norm_var;
    REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(i, running->dtype(), running->shape()));
    st = DispatchFloat(running->dtype(), [&]<typename T>() {
      T* o = out->mutable_data_as<T>();
      for (int64_t c = 0; c < channels; ++c) {
        o[c] = FromDouble<T>(old[c] * momentum + batch[c] * (1.0 - double(momentum)));
      }
    });
    if (!st.ok()) return ctx.Error(st.message());
  }
  return Status::Ok();
}

Status InstanceNormalization(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& shape = x->shape();
  if (shape.rank() < 2) {
    return ctx.Error("input must have rank >= 2 (N x C x ...), got shape " + shape.ToString());
  }
  REFIT_ASSIGN_OR_RETURN(float epsilon, ctx.attrs().GetFloat("epsilon", 1e-5f));
  const int64_t n = shape[0];
  const int64_t channels = shape[1];
  int64_t inner = 1;
  for (size_t a = 2; a < shape.rank(); ++a) inner *= shape[a];
  REFIT_ASSIGN_OR_RETURN(std::vector<double> scale, ReadParam(ctx, 1, "scale", channels));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> bias, ReadParam(ctx, 2, "B", channels));
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), shape));
  Status st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* out = y->mutable_data_as<T>();
    ParallelFor(ctx.pool, n * channels, [&](int64_t begin, int64_t end) {
      std::vector<double> mean, var;
      for (int64_t g = begin; g < end; ++g) {
        const int64_t c = g % channels;
        ChannelStats(in + g * inner, 1, 1, inner, mean, var);
        const double a = scale[c] / std::sqrt(var[0] + double(epsilon));
        for (int64_t k = 0; k < inner; ++k) {
          out[g * inner + k] = FromDouble<T>((double(in[g * inner + k]) - mean[0]) * a + bias[c]);
        }
      }
    });
  });
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

// Expands an optional Scale/B input, unidirectionally broadcast, to the normalised shape.
StatusOr<std::vector<double>> ExpandToShape(const KernelContext& ctx, size_t i, const char* name,
                                            const Shape& norm_shape, double fill) {
  const Tensor* t = ctx.input(i);
  std::vector<double> out(size_t(norm_shape.NumElements()), fill);
  if (t == nullptr) return out;
  auto b = BroadcastShapes(norm_shape, t->shape());
  if (!b.ok() || *b != norm_shape) {
    return ctx.Error(std::string(name) + " has shape " + t->shape().ToString() +
                     ", not broadcastable to the normalised shape " + norm_shape.ToString());
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<double> v, ReadDoubles(*t));
  ForEachBroadcast(norm_shape, {t->shape()},
                   [&](int64_t k, const int64_t* off) { out[size_t(k)] = v[size_t(off[0])]; });
  return out;
}

Status LayerNormalization(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& shape = x->shape();
  const int64_t rank = int64_t(shape.rank());
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", -1));
  REFIT_ASSIGN_OR_RETURN(float epsilon, ctx.attrs().GetFloat("epsilon", 1e-5f));
  REFIT_ASSIGN_OR_RETURN(int64_t stash_type, ctx.attrs().GetInt("stash_type", 1));
  auto axis_or = NormalizeAxis(axis_attr, rank);
  if (!axis_or.ok() || rank == 0) {
    return ctx.Error("axis " + std::to_string(axis_attr) + " out of range for input of shape " +
                     shape.ToString());
  }
  const int64_t axis = *axis_or;
  const auto stash = DataTypeFromOnnx(int(stash_type));
  if (!stash || !IsFloatingPoint(*stash)) {
    return ctx.Error("stash_type " + std::to_string(stash_type) + " is not a float type");
  }
  std::vector<int64_t> stat_dims(shape.dims().begin(), shape.dims().begin() + axis);
  std::vector<int64_t> norm_dims(shape.dims().begin() + axis, shape.dims().end());
  const Shape norm_shape(norm_dims);
  const int64_t norm = norm_shape.NumElements();
  const int64_t outer = Shape(stat_dims).NumElements();
  stat_dims.resize(size_t(rank), 1);
  REFIT_ASSIGN_OR_RETURN(std::vector<double> scale,
                         ExpandToShape(ctx, 1, "Scale", norm_shape, 1.0));
  REFIT_ASSIGN_OR_RETURN(std::vector<double> bias, ExpandToShape(ctx, 2, "B", norm_shape, 0.0));
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), shape));
  std::vector<double> mean(static_cast<size_t>(outer));
  std::vector<double> inv_std(static_cast<size_t>(outer));
  Status st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* out = y->mutable_data_as<T>();
    ParallelFor(ctx.pool, outer, [&](int64_t begin, int64_t end) {
      std::vector<double> m, v;
      for (int64_t g = begin; g < end; ++g) {
        ChannelStats(in + g * norm, 1, 1, norm, m, v);
        mean[g] = m[0];
        inv_std[g] = 1.0 / std::sqrt(v[0] + double(epsilon));
        for (int64_t k = 0; k < norm; ++k) {
          const double z = (double(in[g * norm + k]) - m[0]) * inv_std[g];
          out[g * norm + k] = FromDouble<T>(z * scale[k] + bias[k]);
        }
      }
    });
  });
  if (!st.ok()) return ctx.Error(st.message());
  for (size_t i = 1; i <= 2; ++i) {
    if (!OutputRequested(ctx, i)) continue;
    REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(i, *stash, Shape(stat_dims)));
    const std::vector<double>& src = i == 1 ? mean : inv_std;
    st = DispatchFloat(*stash, [&]<typename T>() {
      for (int64_t g = 0; g < outer; ++g) out->mutable_data_as<T>()[g] = FromDouble<T>(src[g]);
    });
    if (!st.ok()) return ctx.Error(st.message());
  }
  return Status::Ok();
}

// (X - mean) / (std + 1e-9) over `axes` (default N, H, W), with std from E[x^2] - E[x]^2 as the
// operator's definition writes it.
Status MeanVarianceNormalization(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& shape = x->shape();
  const int64_t rank = int64_t(shape.rank());
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.attrs().GetInts("axes", {0, 2, 3}));
  std::vector<bool> reduced(size_t(rank), false);
  for (int64_t a : axes) {
    auto n = NormalizeAxis(a, rank);
    if (!n.ok() || rank == 0) {
      return ctx.Error("axis " + std::to_string(a) + " out of range for input of shape " +
                       shape.ToString());
    }
    reduced[size_t(*n)] = true;
  }
  const std::vector<int64_t> strides = GroupStrides(shape, reduced);
  int64_t groups = 1;
  int64_t count = 1;
  for (int64_t a = 0; a < rank; ++a) (reduced[size_t(a)] ? count : groups) *= shape[size_t(a)];
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), shape));
  Status st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* out = y->mutable_data_as<T>();
    std::vector<double> sum(size_t(groups), 0.0), sum_sq(size_t(groups), 0.0);
    ForEachGrouped(shape, strides, [&](int64_t i, int64_t g) {
      sum[g] += double(in[i]);
      sum_sq[g] += double(in[i]) * double(in[i]);
    });
    for (int64_t g = 0; g < groups; ++g) {
      sum[g] /= double(count);
      sum_sq[g] = std::sqrt(std::max(0.0, sum_sq[g] / double(count) - sum[g] * sum[g])) + 1e-9;
    }
    ForEachGrouped(shape, strides, [&](int64_t i, int64_t g) {
      out[i] = FromDouble<T>((double(in[i]) - sum[g]) / sum_sq[g]);
    });
  });
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

}  // namespace

void RegisterNormalizationOps(KernelRegistry& r) {
  r.Register("BatchNormalization", &BatchNormalization);
  r.Register("InstanceNormalization", &InstanceNormalization);
  r.Register("LayerNormalization", &LayerNormalization);
  // What passes/fuse_layernorm.cc makes of a decomposed LayerNorm, at any opset.
  r.Register(ir::kRefitDomain, "LayerNormalization", &LayerNormalization, 0);
  r.Register("MeanVarianceNormalization", &MeanVarianceNormalization);
}

}  // namespace refit::reference
