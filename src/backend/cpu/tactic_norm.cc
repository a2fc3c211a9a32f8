// Normalisation tactics (f32): LayerNormalization (ONNX and refit domains), refit.GroupNorm and
// InstanceNormalization. One slice (a LayerNorm row, a GroupNorm (n, group), an InstanceNorm
// (n, c)) is the unit of parallel work: statistics in double over the slice, then one affine pass
// in float. A fused activation (refit-domain nodes) runs in place over the slice afterwards.
#include <cmath>
#include <memory>
#include <optional>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/eltwise_kernel.h"
#include "backend/cpu/eltwise_tactic.h"
#include "ir/fused_ops.h"

namespace refit::cpu {
namespace internal {
namespace {

void Stats(const float* x, int64_t n, double* mean, double* var) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const double m = s / double(n);
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += (x[i] - m) * (x[i] - m);
  *mean = m;
  *var = ss / double(n);
}

void Affine(const float* x, float* y, int64_t n, float mean, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * a + b;
}

void AffineVec(const float* x, float* y, int64_t n, float mean, float inv, const float* scale,
               const float* bias) {
  for (int64_t i = 0; i < n; ++i) {
    y[i] = (x[i] - mean) * inv * (scale ? scale[i] : 1.f) + (bias ? bias[i] : 0.f);
  }
}

}  // namespace

NormFns ScalarNormFns() { return {&Stats, &Affine, &AffineVec}; }

}  // namespace internal

namespace {

enum class NormKind { kLayer, kGroup, kInstance };

struct NormPlan {
  NormKind kind = NormKind::kLayer;
  int64_t outer = 1;     // slices
  int64_t size = 1;      // elements per slice
  int64_t groups = 1;    // GroupNorm groups (InstanceNorm: channels)
  int64_t channels = 1;  // GroupNorm / InstanceNorm channels
  int64_t inner = 1;     // elements per channel
  float eps = 1e-5f;
  std::optional<ir::EwProgram> act;
};

class NormKernel : public backend::Kernel {
 public:
  NormKernel(NormPlan plan, internal::NormFns fns, internal::EwBlockFn ew)
      : plan_(std::move(plan)), fns_(fns) {
    if (plan_.act) act_.emplace(*plan_.act, ew);
  }

  Status Run(const backend::KernelIo& io) const override {
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    auto param = [&](size_t i) -> const float* {
      return i < io.inputs.size() && io.inputs[i] ? io.inputs[i]->data_as<float>() : nullptr;
    };
    const NormPlan& p = plan_;
    ParallelFor(io.pool, p.outer, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        const float* xs = x + s * p.size;
        float* ys = y + s * p.size;
        double mean = 0, var = 0;
        fns_.stats(xs, p.size, &mean, &var);
        const double inv = 1.0 / std::sqrt(var + double(p.eps));
        if (p.kind == NormKind::kLayer) {
          fns_.affine_vec(xs, ys, p.size, float(mean), float(inv), param(1), param(2));
        } else if (p.kind == NormKind::kInstance) {
          const int64_t c = s % p.channels;
          fns_.affine(xs, ys, p.size, float(mean), float(param(1)[c] * inv), param(2)[c]);
        } else {
          const int64_t g = s % p.groups;
          const int64_t per = p.channels / p.groups;
          const double a = double(param(1)[g]) * inv;
          for (int64_t j = 0; j < per; ++j) {
            const int64_t c = g * per + j;
            const double gamma = param(3)[c];
            fns_.affine(xs + j * p.inner, ys + j * p.inner, p.inner, float(mean), float(a * gamma),
                        float(double(param(2)[g]) * gamma + param(4)[c]));
          }
        }
        if (act_) act_->Run(ys, p.size);
      }
    });
    return Status::Ok();
  }

 private:
  NormPlan plan_;
  internal::NormFns fns_;
  std::optional<InPlaceProgram> act_;
};

class NormTactic : public backend::Tactic {
 public:
  NormTactic(std::string name, std::string features, NormPlan plan, internal::NormFns fns,
             internal::EwBlockFn ew)
      : name_(std::move(name)),
        features_(std::move(features)),
        plan_(std::move(plan)),
        fns_(fns),
        ew_(ew) {}
  std::string name() const override { return name_; }
  std::string required_features() const override { return features_; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new NormKernel(plan_, fns_, ew_));
  }

 private:
  std::string name_, features_;
  NormPlan plan_;
  internal::NormFns fns_;
  internal::EwBlockFn ew_;
};

// Shape without its leading 1s.
std::vector<int64_t> Squeezed(const Shape& s) {
  std::vector<int64_t> d = s.dims();
  while (!d.empty() && d.front() == 1) d.erase(d.begin());
  return d;
}

// Input i absent, or an f32 tensor of `count` elements (any shape when `like` is null, else with
// `like`'s dims up to leading 1s).
bool ParamOk(const backend::LayerDesc& l, size_t i, int64_t count, const Shape* like,
             bool required) {
  const backend::TensorDesc& d = l.input(i);
  if (!d.present()) return !required;
  if (d.dtype != DataType::kF32 || d.shape.NumElements() != count) return false;
  return like == nullptr || Squeezed(d.shape) == Squeezed(*like);
}

std::optional<NormPlan> Plan(const backend::LayerDesc& l) {
  const ir::Node& n = *l.node;
  const bool refit = n.domain == ir::kRefitDomain;
  if (!refit && !n.domain.empty()) return std::nullopt;
  const backend::TensorDesc& x = l.input(0);
  if (!x.present() || x.dtype != DataType::kF32 || l.outputs.empty() ||
      l.outputs[0].dtype != DataType::kF32 || l.outputs[0].shape != x.shape)
    return std::nullopt;
  for (size_t o = 1; o < n.outputs.size(); ++o) {
    if (!n.outputs[o].empty()) return std::nullopt;
  }
  auto act = ir::GetFusedActivation(n);
  if (!act.ok()) return std::nullopt;
  NormPlan p;
  p.act = ActivationProgram(*act);
  auto eps = n.attrs.GetFloat("epsilon", 1e-5f);
  if (!eps.ok()) return std::nullopt;
  p.eps = *eps;
  const Shape& s = x.shape;
  const int64_t rank = int64_t(s.rank());
  if (n.op_type == "LayerNormalization") {
    auto axis = n.attrs.GetInt("axis", -1);
    auto stash = n.attrs.GetInt("stash_type", 1);
    if (!axis.ok() || !stash.ok() || *stash != 1 || *axis < -rank || *axis >= rank || rank == 0)
      return std::nullopt;
    const int64_t a = *axis < 0 ? *axis + rank : *axis;
    const Shape norm(std::vector<int64_t>(s.dims().begin() + a, s.dims().end()));
    p.kind = NormKind::kLayer;
    p.size = norm.NumElements();
    p.outer = s.NumElements() / std::max<int64_t>(p.size, 1);
    if (!ParamOk(l, 1, p.size, &norm, !refit) || !ParamOk(l, 2, p.size, &norm, false))
      return std::nullopt;
  } else if (rank >= 2 &&
             (n.op_type == "InstanceNormalization" || (refit && n.op_type == "GroupNorm"))) {
    p.channels = s[1];
    for (int64_t d = 2; d < rank; ++d) p.inner *= s[size_t(d)];
    if (n.op_type == "GroupNorm") {
      auto g = n.attrs.GetInt("num_groups", 0);
      if (!g.ok() || *g < 1 || p.channels % *g != 0) return std::nullopt;
      p.kind = NormKind::kGroup;
      p.groups = *g;
      if (!ParamOk(l, 1, p.groups, nullptr, true) || !ParamOk(l, 2, p.groups, nullptr, true) ||
          !ParamOk(l, 3, p.channels, nullptr, true) || !ParamOk(l, 4, p.channels, nullptr, true))
        return std::nullopt;
    } else {
      if (refit) return std::nullopt;
      p.kind = NormKind::kInstance;
      p.groups = p.channels;
      if (!ParamOk(l, 1, p.channels, nullptr, true) || !ParamOk(l, 2, p.channels, nullptr, true))
        return std::nullopt;
    }
    p.size = p.channels / p.groups * p.inner;
    p.outer = s[0] * p.groups;
  } else {
    return std::nullopt;
  }
  if (p.size < 1) return std::nullopt;
  return p;
}

}  // namespace

void AddNormTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<NormPlan> plan = Plan(layer);
  if (!plan) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx2 && cpu.fma) {
    CpuFeatures need;
    need.avx = need.avx2 = need.fma = true;
    out->push_back(std::make_unique<NormTactic>(
        "norm/avx2", need.ToString(), *plan, internal::Avx2NormFns(), &internal::RunEwBlockAvx2));
  }
  out->push_back(std::make_unique<NormTactic>("norm/scalar", "", *plan, internal::ScalarNormFns(),
                                              &internal::RunEwBlockScalar));
}

}  // namespace refit::cpu
