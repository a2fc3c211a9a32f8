// Activation layout selection: which tactic each layer runs, given the tuner's timings, when some
// tactics read or write channel-blocked activations (backend::Tactic::InputBlock).
//
// The tuner times each tactic on its own, a blocked one without the reorders it does not run. A
// value may be held blocked only when its producer writes it blocked (as its output 0), every layer
// that reads it reads it with that block, and it is no graph output. The selection minimises the
// sum of the chosen tactics' times under that rule. Values are links (one reader, which reads it as
// its input 0: the edges of chains of layers) or joints (several readers, or one reading it as
// another input: a residual connection, whose Add's output feeds both the next block and the Add
// after it).
//  1. With the joints' blocks fixed, a dynamic program over each chain of links finds the least
//     sum exactly: chains only meet at joints.
//  2. A local search over the joints, starting from all plain, flips one joint's block or that of
//     a group of joints: those that layers force into one layout (a stage's residual spine, whose
//     Adds or residual-fused Convs read and write one layout), or all that layers connect (the
//     whole spine, across the Convs that could change its layout between stages); it solves
//     step 1 again and keeps each flip that lowers the sum, until none does.
// A layer whose only tactics are plain runs its fastest plain tactic, as the tuner chose.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/plan.h"
#include "refit/status.h"

namespace refit::engine {

// A tactic's blocks (backend::Tactic::InputBlockAt, OutputBlock): per layer input (inputs past
// the end are plain), and output 0's.
struct LayerBlocks {
  std::vector<int> inputs;
  int output = 0;
  int input(size_t i) const { return i < inputs.size() ? inputs[i] : 0; }
  // Every input and the output plain.
  bool plain() const;
};

// The blocks of `tactic` for a layer with `num_inputs` inputs.
LayerBlocks BlocksOf(const backend::Tactic& tactic, size_t num_inputs);

struct LayoutOption {
  size_t tactic = 0;  // the caller's index
  LayerBlocks blocks;
  double us = 0;  // the tuner's median
};

struct LayoutLayer {
  std::vector<LayoutOption> options;  // every tactic timed (at least one plain)
  // Per input: the value it reads, when that value may be blocked (output 0 of an earlier layer,
  // no graph output), as the caller numbers values; -1 for an input that is always plain (a
  // weight, a graph input, another output).
  std::vector<int> inputs;
  int output = -1;  // output 0's value when it may be blocked, else -1
};

// The chosen option (index into options) of each layer, agreeing on every value's block as above.
// InvalidArgument when the layers do not form such a graph (a value written twice, or read before
// it is written) or a layer has no plain option.
StatusOr<std::vector<size_t>> SelectLayouts(const std::vector<LayoutLayer>& layers);

// A layout plan: the chosen option of each layer, and the sum of their times.
struct LayoutPlan {
  std::vector<size_t> chosen;
  double us = 0;
};

// Besides SelectLayouts' plan (first), up to `max_plans - 1` others whose sums are within
// `margin` (0.15: 15%) of its sum, fastest first, each distinct: the plans the search met on its
// way (the last pass tries every flip of the final plan, so its neighbours are among them) and
// the all-plain one (each layer's fastest plain option). The sums are the tuner's per-layer
// timings added up; the builder times these plans end to end, where the layers' interplay and
// the machine's noise decide, and keeps the fastest.
StatusOr<std::vector<LayoutPlan>> SelectLayoutPlans(const std::vector<LayoutLayer>& layers,
                                                    size_t max_plans, double margin);

// What a loaded engine checks before it runs: `blocks[l]` is layer l's tactic's. Every value a
// layer reads must have the block it reads it with: its producer's output block if it is that
// layer's output 0, else plain (graph inputs, other outputs); a graph output must be plain.
// DataLoss naming the layer (`label`: the file) otherwise.
Status CheckLayouts(const Plan& plan, const std::vector<LayerBlocks>& blocks,
                    const std::string& label);

}  // namespace refit::engine
