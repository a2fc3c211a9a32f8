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

// oneDNN runs on OpenMP (Debian's build), outside our thread pool: its primitives take the calling
// thread's OpenMP thread count when created and when run. The builder and the engine call this with
// their thread count before listing tactics, and oneDNN tactics call it before each run, so a
// `--threads 1` engine does not fork a team of every core. A no-op when OpenMP is not loaded.
void SetOpenMpThreads(int threads);

}  // namespace refit::cpu
