// The CPU backend: our own AVX2 / AVX-512 kernels, oneDNN and OpenBLAS as timed tactics.
//
// Tactics() lists only what this CPU can run (cpu_features.h); each tactic reports the features
// its kernel executes so an engine records them and refuses to load where they are missing.
// Layers the backend does not take (other dtypes, other operators) fall back to the reference
// backend in the builder.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace refit::cpu {

std::unique_ptr<backend::Backend> CreateCpuBackend();

}  // namespace refit::cpu
