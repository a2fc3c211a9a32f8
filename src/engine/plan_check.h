// Internal to engine: the plan check. The tuner times each layer alone, and the layout selection
// adds those times up (layout_select.h); neither sees the layers run one after another, and both
// inherit the noise of the moment each layer was timed. The plan check builds the few best layout
// plans as engines and times them end to end, in turns, so each plan meets the machine's noise at
// the same moments as the others; the builder keeps another plan than the best by the sums only
// when it is clearly faster (KeepFastest).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::engine::internal {

struct PlanCheckOptions {
  int min_rounds = 5;        // each engine takes one turn per round
  int max_rounds = 25;       // ... and rounds go on up to this many
  double min_seconds = 1.0;  // ... until this long has passed
  // A pause before each turn, in milliseconds: long enough, and the pool workers of the engine
  // before have stopped spinning (ThreadPool spins 1-2 ms after a call) and sleep, so a turn does
  // not share the cores with them, as a served engine does not.
  double settle_ms = 0;
  // Untimed runs before a turn's timed run, in milliseconds (at least the one run): a pool woken
  // from its sleep, on cores the machine let idle, runs its first calls slowly; a served engine
  // running requests back to back does not.
  double turn_warmup_ms = 0;
};

// The wall time in milliseconds of each engine running `inputs`, per engine and round: two
// untimed runs each, then rounds in which every engine takes a turn, round k starting with engine k
// mod n (so no engine always follows the same other one). A turn is two runs (or more, see
// turn_warmup_ms), the last timed: as
// an engine serving requests one after another runs, with what of its weights the cache holds from
// its last run, not after another engine's weights went through the cache. At least min_rounds
// rounds, then more until min_seconds have passed or max_rounds.
// With `layer_us`, each timed run is also profiled: (*layer_us)[e][r][l] is layer l's wall time in
// microseconds in engine e's timed run of round r.
StatusOr<std::vector<std::vector<double>>> TimeInTurns(
    const std::vector<const Engine*>& engines, const std::map<std::string, TensorView>& inputs,
    const PlanCheckOptions& options,
    std::vector<std::vector<std::vector<double>>>* layer_us = nullptr);

// Inputs to time a plan with: `samples` where given (BuildOptions::sample_inputs), synthetic
// values elsewhere (internal::SyntheticInput, as the builder's first probe).
struct PlanInputs {
  std::vector<Tensor> held;
  std::map<std::string, TensorView> views;  // by graph input name
};
StatusOr<PlanInputs> MakePlanInputs(const Plan& plan,
                                    const std::map<std::string, TensorView>& samples);

// The median over the rounds of other[r] / base[r], TimeInTurns' times of two engines (rounds
// where base took no time skipped): how much of base's time `other` takes, with a slow stretch of
// the machine that spans a round cancelled out. 1 when no round compares.
double MedianRoundRatio(const std::vector<double>& base, const std::vector<double>& other);

// The plan to keep, from TimeInTurns' times with plan 0 the layout selection's: each round's
// times are compared with plan 0's of the same round (a slow stretch of the machine that spans a
// round cancels out), and the plan with the lowest median ratio over the rounds is kept if that
// ratio is below 1 - min_gain; otherwise plan 0, as what end-to-end timing cannot tell apart is
// left to the tuner's sums.
size_t KeepFastest(const std::vector<std::vector<double>>& ms, double min_gain);

// The tactic check's verdict per layer: of the layers `swapped` (another tactic in the variant
// engine than in the base one), those whose own time in the variant beats their time in the base,
// from TimeInTurns' profiles (base[r][l], variant[r][l]): each round's ratio variant / base, kept
// when the median ratio is below 1 - min_gain. Ascending.
std::vector<size_t> FasterLayers(const std::vector<std::vector<double>>& base,
                                 const std::vector<std::vector<double>>& variant,
                                 const std::vector<size_t>& swapped, double min_gain);

// The median of `v` (0 when empty).
double Median(std::vector<double> v);

// The timing cache key of a plan check (tuner::TimingCache): every layer's tuner key, in order,
// and the tactics each candidate plan runs, layer by layer. Never a weight value.
std::string PlanCheckKey(const std::vector<std::string>& layer_keys,
                         const std::vector<std::vector<std::string>>& plan_tactics);

}  // namespace refit::engine::internal
