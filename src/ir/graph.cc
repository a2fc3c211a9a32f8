#include "ir/graph.h"

#include <set>

namespace refit::ir {

const Tensor* Graph::FindWeight(const std::string& name) const {
  auto it = weights.find(name);
  return it == weights.end() ? nullptr : &it->second;
}

const ValueInfo* Graph::FindInput(const std::string& name) const {
  for (const ValueInfo& v : inputs) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

const WeightRecipe* Graph::FindDerivedWeight(const std::string& name) const {
  auto it = derived_weights.find(name);
  return it == derived_weights.end() ? nullptr : &it->second;
}

Status Graph::Validate() const {
  std::set<std::string> defined;
  for (const ValueInfo& v : inputs) {
    if (!defined.insert(v.name).second)
      return InvalidArgument("duplicate graph input '" + v.name + "'");
  }
  for (const auto& [n, w] : weights) {
    if (!defined.insert(n).second) {
      return InvalidArgument("weight '" + n + "' has the same name as a graph input");
    }
  }
  for (const auto& [n, recipe] : derived_weights) {
    if (!defined.insert(n).second) {
      return InvalidArgument("derived weight '" + n + "' has the name of an input or weight");
    }
    Status s = recipe.Validate();
    if (!s.ok()) return s.WithContext("derived weight '" + n + "'");
    for (const std::string& src : recipe.Sources()) {
      if (!weights.count(src)) {
        return InvalidArgument("derived weight '" + n + "' reads '" + src +
                               "', which is not a source weight");
      }
    }
  }
  for (const Node& node : nodes) {
    for (const std::string& in : node.inputs) {
      if (!in.empty() && !defined.count(in)) {
        return InvalidArgument("node '" + node.name + "' (" + node.op_type + ") reads '" + in +
                               "', which no earlier node, input or weight defines");
      }
    }
    for (const std::string& out : node.outputs) {
      if (!out.empty() && !defined.insert(out).second) {
        return InvalidArgument("node '" + node.name + "' (" + node.op_type + ") redefines value '" +
                               out + "'");
      }
    }
  }
  for (const ValueInfo& v : outputs) {
    if (!defined.count(v.name))
      return InvalidArgument("graph output '" + v.name + "' is never produced");
  }
  return Status::Ok();
}

std::map<std::string, int> Graph::OpCounts() const {
  std::map<std::string, int> counts;
  for (const Node& n : nodes) ++counts[n.op_type];
  return counts;
}

}  // namespace refit::ir
