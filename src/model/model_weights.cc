#include "model/model_weights.h"

#include <cmath>

#include "base/finite.h"

namespace refit::model {
namespace {

bool IsFloat(DataType t) {
  return t == DataType::kF32 || t == DataType::kF16 || t == DataType::kBF16 || t == DataType::kF64;
}

}  // namespace

ModelWeights::ModelWeights(ir::Graph* graph) {
  for (auto it = graph->weights.begin(); it != graph->weights.end();) {
    if (!IsFloat(it->second.dtype())) {
      ++it;
      continue;
    }
    prototypes_.push_back({it->first, it->second.dtype(), it->second.shape()});
    auto value = std::make_shared<const Tensor>(std::move(it->second));
    base_[it->first] = value;
    effective_[it->first] = value;
    it = graph->weights.erase(it);
  }
}

const WeightPrototype* ModelWeights::Find(const std::string& name) const {
  for (const WeightPrototype& p : prototypes_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Status ModelWeights::Set(const std::map<std::string, TensorPtr>& values, const std::string& what) {
  std::string problems;
  int count = 0;
  for (const auto& [name, t] : values) {
    const WeightPrototype* p = Find(name);
    std::string problem;
    if (p == nullptr) {
      problem = "'" + name + "' is not a weight of the model";
    } else if (t == nullptr || t->dtype() != p->dtype || t->shape() != p->shape) {
      problem = "'" + name + "': expected " + std::string(DataTypeName(p->dtype)) +
                p->shape.ToString() + ", found " +
                (t ? std::string(DataTypeName(t->dtype())) + t->shape().ToString() : "nothing");
    } else if (const int64_t bad = FirstNonFinite(t->view()); bad >= 0) {
      problem = "'" + name + "' element " + std::to_string(bad) + " is not finite";
    }
    if (!problem.empty() && ++count <= 20) problems += "\n  " + problem;
  }
  if (count > 0) {
    return InvalidArgument(what + ": " + std::to_string(count) +
                           " problem(s), nothing changed:" + problems);
  }
  auto saved = base_;
  std::vector<std::string> names;
  for (const auto& [name, t] : values) {
    base_[name] = t;
    names.push_back(name);
  }
  Status s = Remerge(names);
  if (!s.ok()) base_ = std::move(saved);
  return s;
}

std::vector<std::string> ModelWeights::Targets(const LoraAdapter& adapter) const {
  std::vector<std::string> names;
  for (const LoraTarget& t : adapter.targets) names.push_back(t.weight);
  return names;
}

Status ModelWeights::LoadLora(const std::string& name, std::shared_ptr<const LoraAdapter> adapter,
                              float scale) {
  if (!std::isfinite(scale)) return InvalidArgument("adapter '" + name + "': scale is not finite");
  for (const LoraTarget& t : adapter->targets) {
    if (Find(t.weight) == nullptr) {
      return NotFound("adapter '" + name + "' updates '" + t.weight +
                      "', which is not a weight of the model");
    }
  }
  std::vector<std::string> names = Targets(*adapter);
  auto saved = adapters_;
  auto old = adapters_.find(name);
  if (old != adapters_.end()) {
    for (const std::string& n : Targets(*old->second.adapter)) names.push_back(n);
  }
  adapters_[name] = {std::move(adapter), scale};
  Status s = Remerge(names);
  if (!s.ok()) adapters_ = std::move(saved);
  return s;
}

Status ModelWeights::SetLoraScale(const std::string& name, float scale) {
  auto it = adapters_.find(name);
  if (it == adapters_.end()) return NotFound("no adapter '" + name + "' is loaded");
  if (!std::isfinite(scale)) return InvalidArgument("adapter '" + name + "': scale is not finite");
  const float old = it->second.scale;
  it->second.scale = scale;
  Status s = Remerge(Targets(*it->second.adapter));
  if (!s.ok()) it->second.scale = old;
  return s;
}

Status ModelWeights::UnloadLora(const std::string& name) {
  auto it = adapters_.find(name);
  if (it == adapters_.end()) return NotFound("no adapter '" + name + "' is loaded");
  const std::vector<std::string> names = Targets(*it->second.adapter);
  Adapter saved = it->second;
  adapters_.erase(it);
  Status s = Remerge(names);
  if (!s.ok()) adapters_[name] = std::move(saved);
  return s;
}

Status ModelWeights::Remerge(const std::vector<std::string>& names) {
  std::map<std::string, TensorPtr> next;
  for (const std::string& name : names) {
    if (next.count(name)) continue;
    std::vector<std::pair<const LoraTarget*, float>> deltas;
    for (const auto& [_, a] : adapters_) {
      for (const LoraTarget& t : a.adapter->targets) {
        if (t.weight == name) deltas.push_back({&t, a.scale * t.alpha_scale});
      }
    }
    REFIT_ASSIGN_OR_RETURN(next[name], MergeLora(name, base_.at(name), deltas));
    if (const int64_t bad = FirstNonFinite(next[name]->view()); bad >= 0) {
      return InvalidArgument("weight '" + name + "' with the adapters merged has a non-finite " +
                             "element " + std::to_string(bad));
    }
  }
  for (auto& [name, t] : next) effective_[name] = std::move(t);
  return Status::Ok();
}

}  // namespace refit::model
