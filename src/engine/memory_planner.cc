#include "engine/memory_planner.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace refit::engine {

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests, uint64_t alignment) {
  auto round_up = [alignment](uint64_t b) { return (b + alignment - 1) / alignment * alignment; };
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  std::vector<size_t> placed;
  for (size_t r : order) {
    const BufferRequest& req = requests[r];
    const uint64_t size = round_up(std::max<uint64_t>(req.bytes, 1));
    // Intervals taken by buffers live at the same time, sorted by offset.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t p : placed) {
      const BufferRequest& o = requests[p];
      if (o.first <= req.last && req.first <= o.last) {
        busy.push_back(
            {plan.offsets[p], plan.offsets[p] + round_up(std::max<uint64_t>(o.bytes, 1))});
      }
    }
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[r] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
    placed.push_back(r);
  }
  // The lower bound: the most bytes live at one step.
  std::map<int32_t, uint64_t> live;
  for (const BufferRequest& req : requests) {
    for (int32_t s = req.first; s <= req.last; ++s)
      live[s] += round_up(std::max<uint64_t>(req.bytes, 1));
  }
  for (const auto& [step, bytes] : live)
    plan.peak_live_bytes = std::max(plan.peak_live_bytes, bytes);
  return plan;
}

}  // namespace refit::engine
