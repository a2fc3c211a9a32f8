// The auto-tuner: times every tactic that can run a layer, on the layer's real shapes and weights,
// and keeps the fastest.
//
// Each tactic packs the layer's weights, instantiates its kernel and runs on synthetic activations
// (uniform in [-1, 1) for floats, zeros for integers, so index inputs stay in range): a warm-up
// run, then runs until both `min_runs` and `min_total_ms` are reached (at most `max_runs`); the
// median is its time. With a pool of several threads, the activation inputs are rewritten before
// every timed run from a pristine copy, one contiguous part per thread, as the threads of the layer
// before write them in an engine: a tactic whose threads read what other cores wrote pays for it,
// as it will in the engine, instead of finding every input in its own cache. Then the runoff: the
// tactics within `runoff_margin` of the fastest (the `runoff_tactics` fastest, and besides them the
// fastest of each layout: the blocks the tactic reads its inputs and writes its output in, which
// the engine's layout selection compares by their best times) run again in turn, `runoff_rounds`
// times, and each one's time is the median of its passes, so that load from other processes during
// one tactic's timing does not decide the choice. (Finalists keep their packed weights for the
// runoff: a tactic whose packed weights exceed 64 MiB takes no part.) A tactic that fails to pack,
// instantiate or run is skipped and its error recorded; when every tactic fails the layer's error
// is returned. With a timing cache, a layer whose key is present is not timed at all. Not
// thread-safe: one build at a time per Tuner.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "tuner/timing_cache.h"

namespace refit::tuner {

struct TunerOptions {
  int warmup_runs = 1;
  int min_runs = 3;
  int max_runs = 25;
  double min_total_ms = 3.0;
  double runoff_margin = 1.3;
  int runoff_tactics = 5;
  int runoff_rounds = 2;
  ThreadPool* pool = nullptr;
  TimingCache* cache = nullptr;  // may be null
  // Called before each tactic is timed ("tactic 3/12 conv_gemm/avx2_6x16_kc256_mc168").
  std::function<void(const std::string&)> progress;
};

struct TuneResult {
  size_t chosen = 0;                                       // index into the tactics given
  std::vector<std::pair<std::string, double>> timings_us;  // tactics timed, in the order given
  std::vector<std::string> failures;                       // "tactic: error"
  bool from_cache = false;
};

// `weights[i]`: the value of weight input i (what its recipe produced), null for other inputs.
// `fingerprint`: the backend's (Backend::fingerprint()), part of the cache key.
StatusOr<TuneResult> TuneLayer(const backend::LayerDesc& layer,
                               const std::vector<const Tensor*>& weights,
                               const std::vector<std::unique_ptr<backend::Tactic>>& tactics,
                               const std::string& fingerprint, const TunerOptions& options);

}  // namespace refit::tuner
