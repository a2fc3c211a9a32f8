// The reference backend: one tactic, "reference", for every operator the reference executor runs.
// It is the fallback for layers no optimised backend takes, and the only backend that accepts
// values of dynamic shape. Weights are used as their recipes produce them (no packing).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace refit::reference {

inline constexpr char kReferenceTactic[] = "reference";

std::unique_ptr<backend::Backend> CreateReferenceBackend();

}  // namespace refit::reference
