// The engine cache's memory tier: loaded engines by cache key, shared by every MutableModel of
// the process that uses a cache directory. A key found here skips the directory: the model gets
// Engine::NewInstance of the stored engine (the plan and kernels shared, its own weights) and
// refits it, instead of opening the entry file, decoding the plan and instantiating kernels.
//
// What is stored is the engine stripped of its refittable weights (plan, kernels, constants), so
// the tier never pins a model's weights. An engine is determined by its key (structure, shapes,
// settings, CPU, format), so a stored engine serves any directory and any checkpoint of the
// architecture; an entry removed from a directory (`refit cache clear`) still serves this
// process until it leaves the tier. Least recently used entries leave first, beyond capacity().
//
// Thread safety: all methods may be called from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::cache {

class MemoryTier {
 public:
  static constexpr int kDefaultCapacity = 16;

  // The process's tier (what MutableModel uses).
  static MemoryTier& Process();

  explicit MemoryTier(int capacity = kDefaultCapacity) : capacity_(capacity) {}

  // A new engine over the one stored for `key`, with `options`, holding its constants and none
  // of its refittable weights; null when the key is not stored. Marks the entry used.
  StatusOr<std::unique_ptr<engine::Engine>> Instance(const std::string& key,
                                                     const engine::EngineOptions& options);
  // Stores `engine`'s plan and kernels for `key` (replacing what was there), without its
  // refittable weights, variants or kept sources; evicts the least recently used entries beyond
  // capacity().
  Status Put(const std::string& key, const engine::Engine& engine);

  int capacity() const;
  // Drops entries until at most `capacity` remain (at least 0) and keeps that bound.
  void SetCapacity(int capacity);
  int size() const;
  void Clear();

 private:
  struct Entry {
    std::shared_ptr<const engine::Engine> engine;
    uint64_t last_used = 0;
  };
  void EvictLocked();

  mutable std::mutex mu_;
  int capacity_;
  uint64_t clock_ = 0;
  std::map<std::string, Entry> entries_;
};

}  // namespace refit::cache
