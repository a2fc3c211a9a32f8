// The weight sets an Engine holds: the default one, named variants beside it, and the source
// weights it keeps as the base for adapters.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "engine/engine.h"

namespace refit::engine {

Status Engine::CheckSet(const std::shared_ptr<const WeightSet>& weights) const {
  if (weights == nullptr || weights->owner != core_->id ||
      weights->slots.size() != core_->plan.slots.size()) {
    return InvalidArgument(core_->label + ": the weight set does not belong to this engine");
  }
  return Status::Ok();
}

std::shared_ptr<const WeightSet> Engine::weights() const { return std::atomic_load(&weights_); }

Status Engine::SetWeights(std::shared_ptr<const WeightSet> weights) {
  REFIT_RETURN_IF_ERROR(CheckSet(weights));
  std::atomic_store(&weights_, std::shared_ptr<const WeightSet>(std::move(weights)));
  return Status::Ok();
}

Status Engine::ReplaceWeights(const std::shared_ptr<const WeightSet>& expected,
                              std::shared_ptr<const WeightSet> desired, bool* replaced) {
  REFIT_RETURN_IF_ERROR(CheckSet(desired));
  std::shared_ptr<const WeightSet> seen = expected;
  *replaced = std::atomic_compare_exchange_strong(&weights_, &seen, std::move(desired));
  return Status::Ok();
}

std::vector<std::string> Engine::variants() const {
  std::lock_guard<std::mutex> lock(variants_mu_);
  std::vector<std::string> names;
  for (const auto& [name, _] : variants_) names.push_back(name);
  return names;
}

std::shared_ptr<const WeightSet> Engine::weights(const std::string& variant) const {
  if (variant.empty()) return weights();
  std::lock_guard<std::mutex> lock(variants_mu_);
  auto it = variants_.find(variant);
  return it == variants_.end() ? nullptr : it->second;
}

namespace {
Status CheckVariantName(const std::string& name, const std::string& label) {
  const bool printable =
      std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (name.empty() || name.size() > 256 || !printable) {
    return InvalidArgument(label + ": variant name '" + name +
                           "' must be 1 to 256 printable ASCII characters");
  }
  return Status::Ok();
}
}  // namespace

Status Engine::SetVariant(const std::string& name, std::shared_ptr<const WeightSet> weights) {
  REFIT_RETURN_IF_ERROR(CheckVariantName(name, core_->label));
  REFIT_RETURN_IF_ERROR(CheckSet(weights));
  std::lock_guard<std::mutex> lock(variants_mu_);
  variants_[name] = std::move(weights);
  return Status::Ok();
}

Status Engine::RemoveVariant(const std::string& name) {
  std::lock_guard<std::mutex> lock(variants_mu_);
  if (variants_.erase(name) == 0) {
    return NotFound(core_->label + " has no weight variant '" + name + "'");
  }
  return Status::Ok();
}

Status Engine::ReplaceVariant(const std::string& variant,
                              const std::shared_ptr<const WeightSet>& expected,
                              std::shared_ptr<const WeightSet> desired, bool* replaced) {
  if (variant.empty()) return ReplaceWeights(expected, std::move(desired), replaced);
  REFIT_RETURN_IF_ERROR(CheckVariantName(variant, core_->label));
  REFIT_RETURN_IF_ERROR(CheckSet(desired));
  std::lock_guard<std::mutex> lock(variants_mu_);
  auto it = variants_.find(variant);
  const std::shared_ptr<const WeightSet> current = it == variants_.end() ? nullptr : it->second;
  *replaced = current == expected;
  if (*replaced) variants_[variant] = std::move(desired);
  return Status::Ok();
}

std::shared_ptr<const SourceSet> Engine::kept_sources() const {
  return std::atomic_load(&kept_sources_);
}

Status Engine::SetKeptSources(std::shared_ptr<const SourceSet> sources) {
  if (sources != nullptr) {
    if (sources->tensors.size() != core_->plan.sources.size()) {
      return InvalidArgument(core_->label + ": " + std::to_string(sources->tensors.size()) +
                             " kept source weights for " +
                             std::to_string(core_->plan.sources.size()) + " source prototypes");
    }
    for (size_t i = 0; i < core_->plan.sources.size(); ++i) {
      const SourcePrototype& p = core_->plan.sources[i];
      const Tensor* t = sources->tensors[i].get();
      if (t == nullptr || t->dtype() != p.dtype || t->shape() != p.shape) {
        return InvalidArgument(core_->label + ": kept source weight '" + p.name +
                               "' does not match its prototype " +
                               std::string(DataTypeName(p.dtype)) + p.shape.ToString());
      }
    }
  }
  std::atomic_store(&kept_sources_, std::move(sources));
  return Status::Ok();
}

}  // namespace refit::engine
