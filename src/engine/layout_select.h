// Activation layout selection: which tactic each layer runs, given the tuner's timings, when some
// tactics read or write channel-blocked activations (backend::Tactic::InputBlock).
//
// The tuner times each tactic on its own, a blocked one without the reorders it does not run. A
// producer may write its output blocked only when the one layer that reads it reads it blocked,
// with the same block; so the choice is made over each chain of such producer -> consumer edges at
// once (a dynamic program over the chain), minimising the sum of the chosen tactics' times. A
// layer outside every chain runs its fastest plain tactic, as the tuner chose.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "engine/plan.h"
#include "refit/status.h"

namespace refit::engine {

struct LayoutOption {
  size_t tactic = 0;  // the caller's index
  int in_block = 0, out_block = 0;
  double us = 0;  // the tuner's median
};

struct LayoutLayer {
  std::vector<LayoutOption> options;  // every tactic timed (at least one plain)
  // The layer whose output 0 is this layer's input 0, when the value may be blocked (it is read
  // by this layer alone, as input 0, and is not a graph output); -1 otherwise. Producers come
  // before their consumers.
  int producer = -1;
};

// The chosen option (index into options) of each layer: a blocked input only where the producer's
// chosen output has that block, a blocked output only where the consumer's chosen input has it.
// InvalidArgument when a layer has no usable option (no plain one).
StatusOr<std::vector<size_t>> SelectLayouts(const std::vector<LayoutLayer>& layers);

// What a loaded engine checks before it runs: `blocks[l]` is layer l's tactic's (InputBlock,
// OutputBlock). A blocked output must be read by one layer alone, as its input 0, with the same
// block, and be no graph output; a blocked input must be another layer's output 0 of that block.
// DataLoss naming the layer (`label`: the file) otherwise.
Status CheckLayouts(const Plan& plan, const std::vector<std::pair<int, int>>& blocks,
                    const std::string& label);

}  // namespace refit::engine
