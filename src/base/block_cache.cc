#include "base/block_cache.h"

#include <cstdlib>
#include <list>
#include <map>
#include <mutex>

namespace refit::internal {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kEnabled = false;
#else
constexpr bool kEnabled = true;
#endif
#else
constexpr bool kEnabled = true;
#endif

struct State {
  std::mutex mu;
  std::list<std::pair<size_t, void*>> order;  // oldest first
  std::multimap<size_t, std::list<std::pair<size_t, void*>>::iterator> by_size;
  size_t bytes = 0;
};

// Leaked on purpose: tensors may be freed during static destruction.
State& GetState() {
  static State* state = new State();
  return *state;
}

}  // namespace

BlockCache& BlockCache::Get() {
  static BlockCache cache;
  return cache;
}

void* BlockCache::Take(size_t size) {
  if (!kEnabled || size < kMinBytes) return nullptr;
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.by_size.find(size);
  if (it == s.by_size.end()) return nullptr;
  void* p = it->second->second;
  s.order.erase(it->second);
  s.by_size.erase(it);
  s.bytes -= size;
  return p;
}

void BlockCache::Give(void* p, size_t size) {
  if (!kEnabled || size < kMinBytes || size > kMaxBytes) {
    std::free(p);
    return;
  }
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  while (s.bytes + size > kMaxBytes && !s.order.empty()) {
    auto [old_size, old_p] = s.order.front();
    auto range = s.by_size.equal_range(old_size);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == s.order.begin()) {
        s.by_size.erase(it);
        break;
      }
    }
    s.order.pop_front();
    s.bytes -= old_size;
    std::free(old_p);
  }
  s.order.emplace_back(size, p);
  s.by_size.emplace(size, std::prev(s.order.end()));
  s.bytes += size;
}

size_t BlockCache::cached_bytes() const {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.bytes;
}

}  // namespace refit::internal
