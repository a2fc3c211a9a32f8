// Finiteness checks over tensor bytes, used to validate new weights before a refit.
#pragma once

#include <cstdint>

#include "refit/tensor.h"

namespace refit {

// Index of the first NaN or infinity in `view`, or -1 when all are finite (always -1 for
// integer and bool tensors).
int64_t FirstNonFinite(const TensorView& view);

}  // namespace refit
