// Internal to backend/cpu: a oneDNN memory layout as our packers' layout description.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <optional>

#include "backend/cpu/blocked_pack.h"

namespace refit::cpu {

// The layout of `md` (f32, dims [rows, cols], or [rows, cols, 1, ...] as a 1x1 convolution's
// weights) when it blocks each of the first two dims at most once with no extra padding or flags,
// so PackBlocked2D writes exactly the bytes a oneDNN reorder into `md` would; nullopt otherwise.
std::optional<BlockedLayout2D> BlockedLayoutOf(const dnnl::memory::desc& md);

}  // namespace refit::cpu
