#include "cache/memory_tier.h"

#include <algorithm>

namespace refit::cache {

MemoryTier& MemoryTier::Process() {
  static MemoryTier* tier = new MemoryTier();  // never destroyed: engines may outlive main
  return *tier;
}

StatusOr<std::unique_ptr<engine::Engine>> MemoryTier::Instance(
    const std::string& key, const engine::EngineOptions& options) {
  std::shared_ptr<const engine::Engine> stored;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::unique_ptr<engine::Engine>();
    it->second.last_used = ++clock_;
    stored = it->second.engine;
  }
  return stored->NewInstance(options);
}

Status MemoryTier::Put(const std::string& key, const engine::Engine& engine) {
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> stored, engine.NewInstance());
  auto constants = std::make_shared<engine::WeightSet>(*engine.weights());
  const engine::Plan& plan = engine.plan();
  for (size_t s = 0; s < constants->slots.size(); ++s) {
    if (plan.slots[s].refittable) constants->slots[s] = nullptr;
  }
  REFIT_RETURN_IF_ERROR(stored->SetWeights(std::move(constants)));
  REFIT_RETURN_IF_ERROR(stored->SetKeptSources(nullptr));
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key] = Entry{std::move(stored), ++clock_};
  EvictLocked();
  return Status::Ok();
}

int MemoryTier::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}

void MemoryTier::SetCapacity(int capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  capacity_ = std::max(0, capacity);
  EvictLocked();
}

int MemoryTier::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(entries_.size());
}

void MemoryTier::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

void MemoryTier::EvictLocked() {
  while (int(entries_.size()) > capacity_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    entries_.erase(oldest);
  }
}

}  // namespace refit::cache
