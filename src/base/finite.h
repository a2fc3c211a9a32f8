// Finiteness checks over tensor bytes, used to validate new weights before a refit.
#pragma once

#include <cstdint>

#include "refit/tensor.h"

namespace refit {

// Index of the first NaN or infinity in `view`, or -1 when all are finite (always -1 for
// integer and bool tensors).
int64_t FirstNonFinite(const TensorView& view);

// Copies view's bytes to `dst` (nbytes() of them) and checks them on the way, block by block
// while they are in cache: one pass where a copy and a scan would take two. Returns what
// FirstNonFinite would.
int64_t CopyCheckingFinite(const TensorView& view, void* dst);

}  // namespace refit
