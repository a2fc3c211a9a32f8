// Internal to engine: the graph half of the build, before any backend is involved.
#pragma once

#include <map>
#include <string>

#include "backend/backend.h"
#include "engine/builder.h"

namespace refit::engine::internal {

struct PreparedGraph {
  ir::Graph graph;  // after passes; Constant nodes removed (their outputs are in `constants`)
  std::map<std::string, Tensor> constants;  // weight-independent constants (baked, never refit)
  std::map<std::string, backend::TensorDesc> types;  // every activation value
  std::vector<std::string> weight_computations;      // nodes over weights only, kept at run time
};

// A synthetic value for graph input `v` (its dims fixed): uniform in [-1, 1) for floating types,
// from a seed of `probe`; integers and bools 0 on probe 0 and 1 on probe 1 (valid indices).
StatusOr<Tensor> SyntheticInput(const ir::ValueInfo& v, int probe);

// Fixes the inputs' shapes, probes every value's type, runs the passes and collects constants. In
// static mode, nodes computing on weights only are folded to constants.
StatusOr<PreparedGraph> PrepareGraph(ir::Graph graph, const BuildOptions& options,
                                     passes::PassReport* report, BuildStats* stats);

}  // namespace refit::engine::internal
