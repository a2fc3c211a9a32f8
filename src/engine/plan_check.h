// Internal to engine: the plan check. The tuner times each layer alone, and the layout selection
// adds those times up (layout_select.h); neither sees the layers run one after another, and both
// inherit the noise of the moment each layer was timed. The plan check builds the few best layout
// plans as engines and times them end to end, in turns, so each plan meets the machine's noise at
// the same moments as the others; the builder keeps the fastest.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::engine::internal {

struct PlanCheckOptions {
  int min_rounds = 3;        // each engine runs once per round
  int max_rounds = 25;       // ... and rounds go on up to this many
  double min_seconds = 1.0;  // ... until this long has passed
};

// The median wall time in milliseconds of each engine running `inputs`: two untimed runs each,
// then rounds in which every engine takes a turn, round k starting with engine k mod n (so no
// engine always follows the same other one). A turn is two runs, the second timed: as an engine
// serving requests one after another runs, with what of its weights the cache holds from its last
// run, not after another engine's weights went through the cache. At least min_rounds rounds,
// then more until min_seconds have passed or max_rounds. `rounds`, when given, receives how many
// ran.
StatusOr<std::vector<double>> TimeInTurns(const std::vector<const Engine*>& engines,
                                          const std::map<std::string, TensorView>& inputs,
                                          const PlanCheckOptions& options, int* rounds = nullptr);

// The timing cache key of a plan check (tuner::TimingCache): every layer's tuner key, in order,
// and the tactics each candidate plan runs, layer by layer. Never a weight value.
std::string PlanCheckKey(const std::vector<std::string>& layer_keys,
                         const std::vector<std::vector<std::string>>& plan_tactics);

}  // namespace refit::engine::internal
