// `refit inspect ENGINE|MODEL.onnx [--json]`: a model's inputs, outputs, operator counts and
// weights; engines are described by inspect_engine.cc.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/engine_loader.h"
#include "cli/inspect_engine.h"
#include "cli/model_loader.h"
#include "nlohmann/json.hpp"

namespace refit::cli {
namespace {

struct InspectArgs {
  std::string model;
  bool json = false;
};

nlohmann::json DimsJson(const ir::ValueInfo& v) {
  nlohmann::json dims = nlohmann::json::array();
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (v.dims[i] >= 0)
      dims.push_back(v.dims[i]);
    else if (!v.dim_params[i].empty())
      dims.push_back(v.dim_params[i]);
    else
      dims.push_back("?");
  }
  return dims;
}

std::string DimsText(const ir::ValueInfo& v) {
  if (!v.has_shape) return "(unknown shape)";
  std::string s = "[";
  const nlohmann::json dims = DimsJson(v);
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i].is_string() ? dims[i].get<std::string>() : std::to_string(dims[i].get<int64_t>());
  }
  return s + "]";
}

nlohmann::json ModelJson(const std::string& path, const ir::Graph& g) {
  nlohmann::json j;
  j["file"] = path;
  j["kind"] = "onnx";
  j["opset"] = g.opset;
  j["graph_name"] = g.name;
  auto values = [](const std::vector<ir::ValueInfo>& vs) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& v : vs) {
      nlohmann::json e = {{"name", v.name}, {"dtype", DataTypeName(v.dtype)}};
      e["shape"] = v.has_shape ? DimsJson(v) : nlohmann::json(nullptr);
      a.push_back(e);
    }
    return a;
  };
  j["inputs"] = values(g.inputs);
  j["outputs"] = values(g.outputs);
  j["node_count"] = g.nodes.size();
  j["operators"] = g.OpCounts();
  nlohmann::json weights = nlohmann::json::array();
  uint64_t total = 0;
  for (const auto& [name, t] : g.weights) {
    weights.push_back({{"name", name},
                       {"dtype", DataTypeName(t.dtype())},
                       {"shape", t.shape().dims()},
                       {"bytes", t.nbytes()}});
    total += t.nbytes();
  }
  j["weights"] = weights;
  j["weight_count"] = g.weights.size();
  j["weight_bytes"] = total;
  return j;
}

void PrintText(const nlohmann::json& j, const ir::Graph& g) {
  std::printf("model    %s (ONNX, opset %lld)\n", j["file"].get<std::string>().c_str(),
              static_cast<long long>(g.opset));
  for (const auto& v : g.inputs) {
    std::printf("input    %-32s %-5s %s\n", v.name.c_str(), DataTypeName(v.dtype).data(),
                DimsText(v).c_str());
  }
  for (const auto& v : g.outputs) {
    std::printf("output   %-32s %-5s %s\n", v.name.c_str(), DataTypeName(v.dtype).data(),
                DimsText(v).c_str());
  }
  std::printf("nodes    %zu\n", g.nodes.size());
  for (const auto& [op, n] : g.OpCounts()) std::printf("  %-28s %d\n", op.c_str(), n);
  std::printf("weights  %zu, %s\n", g.weights.size(),
              FormatBytes(j["weight_bytes"].get<uint64_t>()).c_str());
  for (const auto& [name, t] : g.weights) {
    std::printf("  %-48s %-5s %-20s %s\n", name.c_str(), DataTypeName(t.dtype()).data(),
                t.shape().ToString().c_str(), FormatBytes(t.nbytes()).c_str());
  }
}

Status Inspect(const InspectArgs& args) {
  if (IsEngineFile(args.model)) return InspectEngine(args.model, args.json);
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, LoadModel(args.model));
  const nlohmann::json j = ModelJson(args.model, graph);
  if (args.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    PrintText(j, graph);
  }
  return Status::Ok();
}

}  // namespace

Command AddInspectCommand(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd =
      app.add_subcommand("inspect",
                         "Show an engine's layers, tactics, weight slots and recipes, or a model's "
                         "inputs, outputs, operator counts and weights.");
  cmd->add_option("model", args->model, "ENGINE or MODEL.onnx")->required();
  cmd->add_flag("--json", args->json, "print JSON instead of text");
  return [args] { return Inspect(*args); };
}

}  // namespace refit::cli
