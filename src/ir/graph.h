// The refit IR: a topologically ordered graph of ONNX-style nodes over named values.
//
// Values are identified by name (as in ONNX). A node input named "" is an absent optional input.
// Source weights (ONNX initializers) keep the names the model's author gave them; they are the
// names refit uses for every later weight operation. The graph owns its weight tensors (which may
// share an mmapped external-data file). A Graph is a plain value type: not synchronised.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/attribute.h"
#include "ir/weight_recipe.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::ir {

// A dimension is either a known size (>= 0) or symbolic (-1, with an optional parameter name).
struct ValueInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> dims;            // -1 where unknown
  std::vector<std::string> dim_params;  // same length as dims; "" where none
  bool has_shape = false;               // false when even the rank is unknown
};

struct Node {
  std::string name;     // ONNX node name; may be empty in the file, the importer makes one up
  std::string op_type;  // "Conv"
  std::string domain;   // "" for the default ONNX domain
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  AttributeMap attrs;
  // Names of the ONNX nodes this node absorbed through fusions (itself excluded), for `inspect`.
  std::vector<std::string> fused;
};

class Graph {
 public:
  std::string name;
  int64_t opset = 0;              // version of the default ONNX domain imported by the model
  std::vector<ValueInfo> inputs;  // run-time inputs only (initializers are excluded)
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;                       // topological order
  std::map<std::string, Tensor> weights;         // source weights by name
  std::map<std::string, ValueInfo> value_infos;  // inferred shapes of intermediate values
  // Weights computed from source weights (written by passes). Nodes read them by name like source
  // weights; their recipes name only entries of `weights`. Passes leave `weights` itself alone, so
  // a source that no node reads any more still exists for refit.
  std::map<std::string, WeightRecipe> derived_weights;

  const Tensor* FindWeight(const std::string& name) const;
  const ValueInfo* FindInput(const std::string& name) const;
  const WeightRecipe* FindDerivedWeight(const std::string& name) const;

  // Checks structural invariants: every node input is a graph input, a (source or derived)
  // weight or an earlier node's output; derived weights' recipes are well formed and name source
  // weights; names are unique; graph outputs are produced. Errors name the node.
  Status Validate() const;
  // Operator counts, e.g. {"Conv": 20, "Relu": 17}.
  std::map<std::string, int> OpCounts() const;
};

}  // namespace refit::ir
