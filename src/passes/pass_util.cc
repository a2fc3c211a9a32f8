#include "passes/pass_util.h"

#include <memory>
#include <set>

namespace refit::passes {

void PassReport::Add(const std::string& pass, std::string message) {
  entries.push_back({pass, std::move(message)});
}

int PassReport::Count(const std::string& pass) const {
  int n = 0;
  for (const Entry& e : entries) n += e.pass == pass;
  return n;
}

std::string PassReport::ToString() const {
  std::string out;
  for (const Entry& e : entries) out += e.pass + ": " + e.message + "\n";
  return out;
}

bool IsWeight(const ir::Graph& g, const std::string& name) {
  return g.FindWeight(name) != nullptr || g.FindDerivedWeight(name) != nullptr;
}

std::optional<ir::WeightRecipe> RecipeOf(const ir::Graph& g, const std::string& name) {
  if (g.FindWeight(name) != nullptr) return ir::WeightRecipe::FromSource(name);
  if (const ir::WeightRecipe* r = g.FindDerivedWeight(name)) return *r;
  return std::nullopt;
}

StatusOr<WeightInfo> GetWeightInfo(const ir::Graph& g, const std::string& name) {
  if (const Tensor* t = g.FindWeight(name)) return WeightInfo{t->dtype(), t->shape()};
  const ir::WeightRecipe* r = g.FindDerivedWeight(name);
  if (r == nullptr) return NotFound("'" + name + "' is not a weight");
  auto type_of = [&](const std::string& s) -> std::optional<ir::WeightRecipe::TensorType> {
    const Tensor* t = g.FindWeight(s);
    if (t == nullptr) return std::nullopt;
    return ir::WeightRecipe::TensorType{t->dtype(), t->shape()};
  };
  REFIT_ASSIGN_OR_RETURN(ir::WeightRecipe::TensorType type, r->InferType(type_of));
  return WeightInfo{type.dtype, type.shape};
}

std::optional<std::vector<int64_t>> StaticDims(const ir::Graph& g, const std::string& name) {
  if (const ir::ValueInfo* v = g.FindInput(name)) {
    if (v->has_shape) return v->dims;
    return std::nullopt;
  }
  if (const Tensor* t = g.FindWeight(name)) return t->shape().dims();
  if (g.FindDerivedWeight(name) != nullptr) {
    auto info = GetWeightInfo(g, name);
    if (info.ok()) return info->shape.dims();
    return std::nullopt;
  }
  auto it = g.value_infos.find(name);
  if (it != g.value_infos.end() && it->second.has_shape) return it->second.dims;
  return std::nullopt;
}

std::map<std::string, int> UseCounts(const ir::Graph& g) {
  std::map<std::string, int> uses;
  for (const ir::Node& n : g.nodes) {
    for (const std::string& in : n.inputs) {
      if (!in.empty()) ++uses[in];
    }
  }
  return uses;
}

bool IsGraphOutput(const ir::Graph& g, const std::string& name) {
  for (const ir::ValueInfo& v : g.outputs) {
    if (v.name == name) return true;
  }
  return false;
}

int ProducerOf(const ir::Graph& g, const std::string& value) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& out : g.nodes[i].outputs) {
      if (out == value) return int(i);
    }
  }
  return -1;
}

std::string UniqueValueName(const ir::Graph& g, const std::string& base) {
  std::set<std::string> used;
  for (const ir::ValueInfo& v : g.inputs) used.insert(v.name);
  for (const ir::ValueInfo& v : g.outputs) used.insert(v.name);
  for (const auto& [n, _] : g.weights) used.insert(n);
  for (const auto& [n, _] : g.derived_weights) used.insert(n);
  for (const ir::Node& n : g.nodes) used.insert(n.outputs.begin(), n.outputs.end());
  if (!used.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string name = base + "_" + std::to_string(i);
    if (!used.count(name)) return name;
  }
}

ir::Node ConstantNode(std::string name, std::string output, Tensor value) {
  ir::Node n;
  n.name = std::move(name);
  n.op_type = "Constant";
  n.outputs = {std::move(output)};
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kTensor;
  a.t = std::make_shared<const Tensor>(std::move(value));
  n.attrs.Set("value", std::move(a));
  return n;
}

void RemoveNodes(ir::Graph& g, const std::vector<bool>& remove) {
  std::vector<ir::Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!remove[i]) kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
}

}  // namespace refit::passes
