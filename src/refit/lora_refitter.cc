// LoraRefitter: adapters merged into source weights from their base values, refitted through the
// recipes.
#include <algorithm>
#include <cmath>
#include <set>

#include "engine/engine.h"
#include "refit/lora.h"

namespace refit {
namespace {

// out[o, :] += factor * sum_k up[o, k] * down[k, :], rows of `cols` floats.
void AddLowRank(const LoraTarget& t, float factor, float* out) {
  const int64_t out_rows = t.up->shape()[0];
  const int64_t rank = t.rank;
  const int64_t cols = t.down->shape().NumElements() / std::max<int64_t>(rank, 1);
  const float* up = t.up->data_as<float>();
  const float* down = t.down->data_as<float>();
  for (int64_t o = 0; o < out_rows; ++o) {
    float* row = out + o * cols;
    for (int64_t k = 0; k < rank; ++k) {
      const float u = factor * up[o * rank + k];
      const float* d = down + k * cols;
      for (int64_t c = 0; c < cols; ++c) row[c] += u * d[c];
    }
  }
}

}  // namespace

StatusOr<std::shared_ptr<const Tensor>> MergeLora(
    const std::string& weight, const std::shared_ptr<const Tensor>& base,
    const std::vector<std::pair<const LoraTarget*, float>>& deltas) {
  // No adapter: the base tensor itself, so unloading restores the base bit for bit.
  if (deltas.empty()) return base;
  const Tensor& w = *base;
  for (const auto& [t, _] : deltas) {
    if (t->up->shape()[0] * (t->down->shape().NumElements() / std::max<int64_t>(t->rank, 1)) !=
        w.shape().NumElements()) {
      return InvalidArgument("adapter module '" + t->key + "' does not fit weight '" + weight +
                             "' " + w.shape().ToString());
    }
  }
  REFIT_ASSIGN_OR_RETURN(Tensor acc, Tensor::Create(DataType::kF32, w.shape()));
  float* a = acc.mutable_data_as<float>();
  // Deltas are summed first and added to the base once, so the result does not depend on the
  // order in which adapters were loaded.
  for (const auto& [t, factor] : deltas) AddLowRank(*t, factor, a);
  const int64_t n = w.shape().NumElements();
  REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Uninitialized(w.dtype(), w.shape()));
  if (w.dtype() == DataType::kF32) {
    const float* src = w.data_as<float>();
    float* dst = out.mutable_data_as<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] + a[i];
  } else if (w.dtype() == DataType::kF16) {
    const Half* src = w.data_as<Half>();
    Half* dst = out.mutable_data_as<Half>();
    for (int64_t i = 0; i < n; ++i) dst[i] = Half(float(src[i]) + a[i]);
  } else if (w.dtype() == DataType::kBF16) {
    const BFloat16* src = w.data_as<BFloat16>();
    BFloat16* dst = out.mutable_data_as<BFloat16>();
    for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16(float(src[i]) + a[i]);
  } else {
    return InvalidArgument("weight '" + weight + "' is " + std::string(DataTypeName(w.dtype())) +
                           "; LoRA needs a float weight");
  }
  return std::shared_ptr<const Tensor>(std::make_shared<Tensor>(std::move(out)));
}

BaseWeights KeptBaseWeights(const engine::Engine& engine) {
  BaseWeights base;
  std::shared_ptr<const engine::SourceSet> kept = engine.kept_sources();
  if (kept == nullptr) return base;
  const auto& sources = engine.plan().sources;
  for (size_t i = 0; i < sources.size() && i < kept->tensors.size(); ++i) {
    base[sources[i].name] = kept->tensors[i];
  }
  return base;
}

LoraRefitter::LoraRefitter(engine::Engine* engine, BaseWeights base,
                           const LoraRefitterOptions& options)
    : engine_(engine),
      refitter_(engine, RefitterOptions{options.threads, options.variant}),
      base_(std::move(base)) {}

LoraRefitter::~LoraRefitter() = default;

const std::vector<WeightPrototype>& LoraRefitter::weights() const { return refitter_.weights(); }

Status LoraRefitter::Load(const std::string& name, LoraAdapter adapter, float scale) {
  if (!std::isfinite(scale)) return InvalidArgument("adapter '" + name + "': scale is not finite");
  for (const LoraTarget& t : adapter.targets) {
    const WeightPrototype* w = refitter_.FindWeight(t.weight);
    if (w == nullptr) {
      return NotFound("adapter '" + name + "' updates '" + t.weight + "', which is not a " +
                      "refittable weight of " + engine_->label());
    }
  }
  staged_[name] = {std::make_shared<const LoraAdapter>(std::move(adapter)), scale};
  return Status::Ok();
}

Status LoraRefitter::SetScale(const std::string& name, float scale) {
  auto it = staged_.find(name);
  if (it == staged_.end()) return NotFound("no adapter '" + name + "' is loaded");
  if (!std::isfinite(scale)) return InvalidArgument("adapter '" + name + "': scale is not finite");
  it->second.scale = scale;
  return Status::Ok();
}

Status LoraRefitter::Unload(const std::string& name) {
  if (staged_.erase(name) == 0) return NotFound("no adapter '" + name + "' is loaded");
  return Status::Ok();
}

std::vector<LoadedAdapter> LoraRefitter::adapters() const {
  std::vector<LoadedAdapter> out;
  for (const auto& [name, e] : staged_) {
    out.push_back({name, e.scale, int(e.adapter->targets.size())});
  }
  return out;
}

StatusOr<std::shared_ptr<const Tensor>> LoraRefitter::Merge(
    const std::string& weight, const std::map<std::string, Entry>& set) const {
  auto base = base_.find(weight);
  if (base == base_.end() || base->second == nullptr) {
    return NotFound("the base value of weight '" + weight + "' is not available (build the " +
                    "engine with --keep-sources, or supply the model's weights)");
  }
  std::vector<std::pair<const LoraTarget*, float>> deltas;
  for (const auto& [_, e] : set) {
    for (const LoraTarget& t : e.adapter->targets) {
      if (t.weight == weight) deltas.push_back({&t, e.scale * t.alpha_scale});
    }
  }
  return MergeLora(weight, base->second, deltas);
}

StatusOr<RefitReport> LoraRefitter::Apply() {
  // Weights whose adapter sum changed: every target of an adapter added, removed, replaced or
  // rescaled.
  std::set<std::string> dirty;
  auto mark = [&](const Entry& e) {
    for (const LoraTarget& t : e.adapter->targets) dirty.insert(t.weight);
  };
  for (const auto& [name, e] : staged_) {
    auto it = applied_.find(name);
    if (it == applied_.end() || it->second.adapter != e.adapter || it->second.scale != e.scale) {
      mark(e);
      if (it != applied_.end()) mark(it->second);
    }
  }
  for (const auto& [name, e] : applied_) {
    if (!staged_.count(name)) mark(e);
  }
  refitter_.Clear();
  for (const std::string& weight : dirty) {
    REFIT_ASSIGN_OR_RETURN(std::shared_ptr<const Tensor> value, Merge(weight, staged_));
    REFIT_RETURN_IF_ERROR(refitter_.SetWeight(weight, std::move(value)));
  }
  // The other sources of the touched slots (a folded BatchNorm's tensors), at their merged values.
  for (const std::string& weight : refitter_.Missing()) {
    auto value = Merge(weight, staged_);
    if (!value.ok()) {
      refitter_.Clear();
      return value.status().WithContext(engine_->label() + ": an adapter's slot also reads '" +
                                        weight + "'");
    }
    REFIT_RETURN_IF_ERROR(refitter_.SetWeight(weight, std::move(value).value()));
  }
  auto report = refitter_.Apply();
  if (!report.ok()) {
    refitter_.Clear();
    return report.status();
  }
  applied_ = staged_;
  return report;
}

StatusOr<std::map<std::string, std::shared_ptr<const Tensor>>> LoraRefitter::MergedWeights() const {
  std::map<std::string, std::shared_ptr<const Tensor>> out;
  for (const WeightPrototype& w : refitter_.weights()) {
    REFIT_ASSIGN_OR_RETURN(out[w.name], Merge(w.name, applied_));
  }
  return out;
}

}  // namespace refit
