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
