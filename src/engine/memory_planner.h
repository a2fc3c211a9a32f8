// The activation memory planner: places every statically shaped value in one arena so that values
// whose lifetimes overlap never share bytes, and values that are never live at once do.
//
// Greedy by size (largest first), each buffer at the lowest aligned offset that clears every
// already placed buffer it is live with: the usual heuristic (TFLite's, ONNX Runtime's), within a
// few percent of the lower bound (the peak of the live bytes) on the zoo.
#pragma once

#include <cstdint>
#include <vector>

namespace refit::engine {

struct BufferRequest {
  uint64_t bytes = 0;
  int32_t first = 0;  // step that writes it (-1: before the first layer, e.g. graph inputs)
  int32_t last = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<uint64_t> offsets;  // one per request, multiples of `alignment`
  uint64_t arena_bytes = 0;
  uint64_t peak_live_bytes = 0;  // the lower bound any placement needs
};

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests, uint64_t alignment = 64);

}  // namespace refit::engine
