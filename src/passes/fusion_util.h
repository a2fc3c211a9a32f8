// Helpers shared by the fusion passes (fuse_activation, fuse_elementwise, fuse_layernorm): value
// dtypes, readers, Constant-node scalars and the bookkeeping of absorbed nodes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass_util.h"

namespace refit::passes {

// The dtype of any value when known (graph input, weight, inferred value); kUndefined otherwise.
DataType ValueDtype(const ir::Graph& g, const std::string& name);

// For each value, the indices of the nodes reading it (a node reading it twice listed once).
std::map<std::string, std::vector<int>> ReaderIndex(const ir::Graph& g);

// The tensor held by the Constant node producing `name` ("value" attribute), or nullptr. Never a
// weight: weights are not Constant nodes.
const Tensor* ConstantNodeValue(const ir::Graph& g, const std::string& name);
// The values of an i32 / i64 tensor, or nullopt.
std::optional<std::vector<int64_t>> ConstantInts(const Tensor& t);
// The value of a one-element f32/f64 Constant-node output, and its rank, or nullopt.
struct ScalarConstant {
  float value = 0;
  size_t rank = 0;
};
std::optional<ScalarConstant> GetScalarConstant(const ir::Graph& g, const std::string& name);

// Appends `absorbed`'s name and the names it had itself absorbed to survivor.fused.
void RecordFused(ir::Node& survivor, const ir::Node& absorbed);

}  // namespace refit::passes
