// The CPU backend: our own AVX2 / AVX-512 kernels, oneDNN and OpenBLAS as timed tactics.
//
// Tactics() lists only what this CPU can run (cpu_features.h); each tactic reports the features
// its kernel executes so an engine records them and refuses to load where they are missing.
// Layers the backend does not take (other dtypes, other operators) fall back to the reference
// backend in the builder. Its fingerprint() (a timing-cache key part) names refit's tactics
// revision, the CPU's features and model, and the oneDNN and OpenBLAS builds.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace refit::cpu {

std::unique_ptr<backend::Backend> CreateCpuBackend();

// oneDNN (on OpenMP, in Debian's build) and OpenBLAS (pthreads) bring their own worker threads,
// which spin after each call and fight our pool's workers for the cores (measured: 2-thread engines
// 10-80x slower on small layers). So both run single-threaded here, as timed tactics among ours:
// the builder and the engine set OpenMP's thread count to 1 before oneDNN primitives are created,
// oneDNN tactics set it again before each run, OpenBLAS tactics set OpenBLAS's. OpenMP's count is
// per thread (an ICV of the calling thread), so a oneDNN call on one of the pool's workers sets it
// there first: a worker left at OpenMP's default (every core) forked a team of its own from
// inside the pool (MobileNetV2 at batch 8 on 2 threads: 32 ms against 25 ms, a depthwise layer
// 2.9 ms against the 0.08 ms it was tuned at). A no-op when OpenMP is not loaded.
void SetOpenMpThreads(int threads);

}  // namespace refit::cpu
