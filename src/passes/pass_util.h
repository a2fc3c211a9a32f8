// Helpers shared by the graph passes: weight lookups through recipes, use counts, naming.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/weight_recipe.h"
#include "passes/passes.h"

namespace refit::passes {

// True for a source or derived weight.
bool IsWeight(const ir::Graph& g, const std::string& name);
// The recipe giving weight `name` from source weights (an identity for a source weight);
// nullopt when `name` is not a weight.
std::optional<ir::WeightRecipe> RecipeOf(const ir::Graph& g, const std::string& name);

struct WeightInfo {
  DataType dtype = DataType::kUndefined;
  Shape shape;
};
// dtype and shape of a weight (a derived weight's from its recipe, without evaluating it).
StatusOr<WeightInfo> GetWeightInfo(const ir::Graph& g, const std::string& name);

// Rank and dims of any value when statically known (graph input, inferred value, weight);
// nullopt otherwise. Dims may hold -1 for unknown sizes.
std::optional<std::vector<int64_t>> StaticDims(const ir::Graph& g, const std::string& name);

// Number of node inputs reading each value (a node reading a value twice counts twice).
std::map<std::string, int> UseCounts(const ir::Graph& g);
bool IsGraphOutput(const ir::Graph& g, const std::string& name);
// Index of the node producing `value`, or -1.
int ProducerOf(const ir::Graph& g, const std::string& value);
// `base`, or `base_1`, `base_2`, ...: the first name no input, weight or value uses.
std::string UniqueValueName(const ir::Graph& g, const std::string& base);
// A Constant node called `name` giving `value` as `output`.
ir::Node ConstantNode(std::string name, std::string output, Tensor value);
// Drops the nodes marked in `remove` (same length as g.nodes), keeping order.
void RemoveNodes(ir::Graph& g, const std::vector<bool>& remove);

inline void Note(PassReport* r, const std::string& pass, std::string message) {
  if (r != nullptr) r->Add(pass, std::move(message));
}

}  // namespace refit::passes
