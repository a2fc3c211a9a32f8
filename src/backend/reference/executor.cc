#include "backend/reference/executor.h"

#include <unordered_map>

#include "backend/reference/evaluate_node.h"

namespace refit::reference {

Status CheckSupported(const ir::Graph& graph) {
  const KernelRegistry& reg = KernelRegistry::Default();
  for (const ir::Node& n : graph.nodes) {
    if (reg.Find(n.op_type, n.domain, graph.opset) == nullptr) {
      return Unimplemented("operator '" + (n.domain.empty() ? "" : n.domain + ".") + n.op_type +
                           "' (node '" + n.name + "', opset " + std::to_string(graph.opset) +
                           ") is not supported");
    }
  }
  return Status::Ok();
}

ReferenceExecutor::ReferenceExecutor(const ir::Graph& graph, const ExecutorOptions& options)
    : graph_(graph), options_(options) {}

StatusOr<std::unique_ptr<ReferenceExecutor>> ReferenceExecutor::Create(
    const ir::Graph& graph, const ExecutorOptions& options) {
  REFIT_RETURN_IF_ERROR(graph.Validate());
  REFIT_RETURN_IF_ERROR(CheckSupported(graph));
  if (options.threads < 1) return InvalidArgument("threads must be at least 1");
  std::unique_ptr<ReferenceExecutor> ex(new ReferenceExecutor(graph, options));
  for (const auto& [name, recipe] : graph.derived_weights) {
    auto value = recipe.Evaluate([&](const std::string& src) { return graph.FindWeight(src); });
    if (!value.ok()) return value.status().WithContext("derived weight '" + name + "'");
    ex->derived_.emplace(name, std::move(value).value());
  }
  // Liveness: the last node reading each intermediate value frees it, unless it is a graph output.
  std::unordered_map<std::string, size_t> last_use;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& in : graph.nodes[i].inputs) {
      if (!in.empty()) last_use[in] = i;
    }
  }
  for (const ir::ValueInfo& v : graph.outputs) last_use.erase(v.name);
  for (const auto& [name, _] : graph.weights) last_use.erase(name);
  for (const auto& [name, _] : graph.derived_weights) last_use.erase(name);
  ex->frees_after_.resize(graph.nodes.size());
  for (const auto& [name, node] : last_use) {
    ex->frees_after_[node].push_back(ex->value_names_.size());
    ex->value_names_.push_back(name);
  }
  if (options.threads > 1) ex->pool_ = std::make_unique<ThreadPool>(options.threads);
  return ex;
}

Status ReferenceExecutor::CheckInputs(const std::map<std::string, TensorView>& inputs) const {
  for (const ir::ValueInfo& v : graph_.inputs) {
    auto it = inputs.find(v.name);
    if (it == inputs.end()) return InvalidArgument("missing input '" + v.name + "'");
    const TensorView& t = it->second;
    if (v.dtype != DataType::kUndefined && t.dtype() != v.dtype) {
      return InvalidArgument("input '" + v.name + "' has dtype " +
                             std::string(DataTypeName(t.dtype())) + ", the model expects " +
                             std::string(DataTypeName(v.dtype)));
    }
    if (v.has_shape) {
      bool match = t.shape().rank() == v.dims.size();
      for (size_t d = 0; match && d < v.dims.size(); ++d) {
        match = v.dims[d] < 0 || v.dims[d] == t.shape()[d];
      }
      if (!match) {
        std::string want = "[";
        for (size_t d = 0; d < v.dims.size(); ++d) {
          if (d) want += ",";
          want += v.dims[d] < 0 ? (v.dim_params[d].empty() ? "?" : v.dim_params[d])
                                : std::to_string(v.dims[d]);
        }
        return InvalidArgument("input '" + v.name + "' has shape " + t.shape().ToString() +
                               ", the model expects " + want + "]");
      }
    }
  }
  for (const auto& [name, _] : inputs) {
    if (graph_.FindInput(name) == nullptr) {
      return InvalidArgument("'" + name + "' is not an input of the model");
    }
  }
  return Status::Ok();
}

StatusOr<std::map<std::string, Tensor>> ReferenceExecutor::Run(
    const std::map<std::string, TensorView>& inputs) const {
  REFIT_RETURN_IF_ERROR(CheckInputs(inputs));
  // Inputs are copied so the kernels only ever see aligned, owned tensors.
  std::unordered_map<std::string, Tensor> values;
  for (const auto& [name, view] : inputs) {
    REFIT_ASSIGN_OR_RETURN(values[name], Tensor::CopyOf(view));
  }
  auto lookup = [&](const std::string& name) -> const Tensor* {
    if (name.empty()) return nullptr;
    auto it = values.find(name);
    if (it != values.end()) return &it->second;
    auto d = derived_.find(name);
    if (d != derived_.end()) return &d->second;
    return graph_.FindWeight(name);
  };
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const ir::Node& node = graph_.nodes[i];
    std::vector<const Tensor*> in;
    for (const std::string& name : node.inputs) {
      const Tensor* t = lookup(name);
      if (!name.empty() && t == nullptr) {
        return Internal("node '" + node.name + "': value '" + name + "' is not available");
      }
      in.push_back(t);
    }
    std::vector<Tensor> outs;
    REFIT_RETURN_IF_ERROR(EvaluateNode(node, graph_.opset, in, &outs, pool_.get()));
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (!node.outputs[o].empty()) values[node.outputs[o]] = std::move(outs[o]);
    }
    for (size_t v : frees_after_[i]) values.erase(value_names_[v]);
  }
  std::map<std::string, Tensor> result;
  for (const ir::ValueInfo& v : graph_.outputs) {
    auto it = values.find(v.name);
    if (it != values.end()) {
      // An output may also be read later or be listed twice: copy rather than move.
      REFIT_ASSIGN_OR_RETURN(result[v.name], Tensor::CopyOf(it->second.view()));
    } else if (const Tensor* w = graph_.FindWeight(v.name)) {
      REFIT_ASSIGN_OR_RETURN(result[v.name], Tensor::CopyOf(w->view()));
    } else if (auto d = derived_.find(v.name); d != derived_.end()) {
      REFIT_ASSIGN_OR_RETURN(result[v.name], Tensor::CopyOf(d->second.view()));
    } else {
      return Internal("graph output '" + v.name + "' was not computed");
    }
  }
  return result;
}

}  // namespace refit::reference
