#include "refit/weight_source.h"

#include <set>

#include "frontend/onnx/importer.h"
#include "ir/graph_signature.h"
#include "refit/safetensors.h"

namespace refit::refitter {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string FirstNames(const std::vector<std::string>& names, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

Status NothingMatches(const std::string& path, const engine::Plan& plan, size_t count) {
  std::vector<std::string> expected;
  for (const engine::SourcePrototype& s : plan.sources) expected.push_back(s.name);
  return InvalidArgument("weights '" + path + "': none of its " + std::to_string(count) +
                         " tensors is a weight of the engine's model '" + plan.model_name +
                         "' (expected names like " + FirstNames(expected, 4) +
                         "); are these weights for another model?");
}

// Splits a name -> tensor map into the plan's sources and the rest.
WeightSource ByName(std::map<std::string, std::shared_ptr<const Tensor>> all,
                    const engine::Plan& plan) {
  WeightSource out;
  for (auto& [name, t] : all) {
    if (plan.FindSource(name) != nullptr) {
      out.tensors[name] = std::move(t);
    } else {
      out.unused.push_back(name);
    }
  }
  return out;
}

StatusOr<WeightSource> FromSafetensors(const std::string& path, const engine::Plan& plan) {
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  std::map<std::string, std::shared_ptr<const Tensor>> all;
  for (const std::string& name : file->names()) {
    REFIT_ASSIGN_OR_RETURN(Tensor t, file->GetTensor(name));  // shares the mapping
    all[name] = std::make_shared<const Tensor>(std::move(t));
  }
  WeightSource out = ByName(std::move(all), plan);
  if (out.tensors.empty() && !plan.sources.empty()) {
    return NothingMatches(path, plan, file->names().size());
  }
  return out;
}

StatusOr<WeightSource> FromOnnx(const std::string& path, const engine::Plan& plan) {
  onnx_frontend::ImportOptions options;
  options.infer_shapes = false;  // only the initializers and the structure are needed
  auto imported = onnx_frontend::ImportOnnxFile(path, options);
  if (!imported.ok()) return imported.status().WithContext("weights '" + path + "'");
  ir::Graph& graph = *imported;
  std::vector<std::string> missing;
  for (const engine::SourcePrototype& s : plan.sources) {
    if (!graph.weights.count(s.name)) missing.push_back(s.name);
  }
  if (missing.empty()) {
    std::map<std::string, std::shared_ptr<const Tensor>> all;
    for (auto& [name, t] : graph.weights) all[name] = std::make_shared<const Tensor>(std::move(t));
    return ByName(std::move(all), plan);
  }
  const std::string label = "ONNX file '" + path + "'";
  if (plan.architecture.hash == 0) {
    return InvalidArgument(label + ": " + std::to_string(missing.size()) +
                           " of the engine's source weights are not among its initializers (" +
                           FirstNames(missing) +
                           "), and the engine records no architecture to match by position "
                           "(rebuild it with this version of refit)");
  }
  const ir::GraphSignature other = ir::ComputeGraphSignature(graph);
  auto matched = ir::MatchWeightsByPosition(plan.architecture, other, label);
  if (!matched.ok()) {
    return InvalidArgument(matched.status().message() + "\n(" + std::to_string(missing.size()) +
                           " of the engine's source weights are not among its initializers by "
                           "name: " +
                           FirstNames(missing) + ")");
  }
  WeightSource out;
  out.matched_by = "position";
  std::set<std::string> used;
  for (const engine::SourcePrototype& s : plan.sources) {
    auto it = matched->find(s.name);
    if (it == matched->end()) {
      return InvalidArgument(label + ": the engine's source weight '" + s.name +
                             "' has no position in the architecture it records");
    }
    auto w = graph.weights.find(it->second);
    if (w == graph.weights.end()) return Internal(label + ": matched weight '" + it->second + "'");
    used.insert(it->second);
    out.tensors[s.name] = std::make_shared<const Tensor>(std::move(w->second));
  }
  for (const auto& [name, _] : graph.weights) {
    if (!used.count(name)) out.unused.push_back(name);
  }
  return out;
}

}  // namespace

StatusOr<WeightSource> LoadWeightSource(const std::string& path, const engine::Plan& plan) {
  if (EndsWith(path, ".onnx")) return FromOnnx(path, plan);
  return FromSafetensors(path, plan);
}

}  // namespace refit::refitter
