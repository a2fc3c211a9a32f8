#include "cli/inspect_engine.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/model_loader.h"
#include "engine/engine.h"
#include "engine/engine_file.h"
#include "nlohmann/json.hpp"

namespace refit::cli {
namespace {

using Json = nlohmann::json;
using engine::LayerInput;
using engine::Plan;

Json ValuesJson(const Plan& plan, const std::vector<int32_t>& values) {
  Json out = Json::array();
  for (int32_t v : values) {
    const engine::PlanValue& pv = plan.values[v];
    out.push_back({{"name", pv.name},
                   {"dtype", std::string(DataTypeName(pv.dtype))},
                   {"shape", pv.shape.dims()}});
  }
  return out;
}

Json EngineJson(const std::string& path, const engine::Engine& e, const Plan& plan) {
  Json j;
  j["file"] = path;
  j["kind"] = "engine";
  j["format_version"] = engine::kEngineFormatVersion;
  j["mode"] = std::string(engine::EngineModeName(plan.mode));
  j["model"] = plan.model_name;
  j["opset"] = plan.opset;
  j["file_bytes"] = e.file_bytes();
  j["weight_bytes"] = plan.WeightBytes(false);
  j["refittable_weight_bytes"] = plan.WeightBytes(true);
  uint64_t stored = 0;
  for (const engine::WeightSlot& s : plan.slots) stored += s.stored ? s.nbytes() : 0;
  j["stored_weight_bytes"] = stored;
  // Source weights kept as the base for LoRA adapters (refit build --keep-sources).
  const auto kept = e.kept_sources();
  j["kept_source_bytes"] = kept != nullptr ? kept->bytes() : 0;
  j["arena_bytes"] = plan.arena_bytes;
  j["workspace_bytes"] = plan.workspace_bytes;
  j["max_threads"] = plan.max_threads;
  j["required_cpu_features"] = plan.required_features;
  j["inputs"] = ValuesJson(plan, plan.inputs);
  j["outputs"] = ValuesJson(plan, plan.outputs);
  try {
    j["build"] = Json::parse(e.metadata()).value("build", Json::object());
  } catch (const std::exception&) {
    j["build"] = Json::object();
  }
  Json layers = Json::array();
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const engine::PlanLayer& layer = plan.layers[l];
    Json timings = Json::array();
    for (const engine::TacticTiming& t : layer.timings) {
      timings.push_back({{"tactic", t.tactic}, {"median_us", t.median_us}});
    }
    std::string activation;
    if (const ir::Attribute* a = layer.node.attrs.Find("refit_activation")) activation = a->s;
    layers.push_back(
        {{"index", l},
         {"name", layer.node.name},
         {"op", (layer.node.domain.empty() ? "" : layer.node.domain + ".") + layer.node.op_type},
         {"fused", layer.node.fused},
         {"activation", activation},
         {"inputs", layer.node.inputs},
         {"outputs", layer.node.outputs},
         {"backend", layer.backend},
         {"tactic", layer.tactic},
         {"features", layer.features},
         {"from_timing_cache", layer.from_timing_cache},
         {"timings", timings}});
  }
  j["layers"] = layers;
  Json slots = Json::array();
  for (const engine::WeightSlot& s : plan.slots) {
    Json js = {{"name", s.name},
               {"layer", plan.layers[s.layer].node.name},
               {"input", s.input},
               {"dtype", std::string(DataTypeName(s.dtype))},
               {"shape", s.shape.dims()},
               {"packed_dtype", std::string(DataTypeName(s.packed_dtype))},
               {"packed_shape", s.packed_shape.dims()},
               {"bytes", s.nbytes()},
               {"stored", s.stored},
               {"refittable", s.refittable}};
    if (s.refittable) {
      js["recipe"] = s.recipe.ToString();
      js["sources"] = s.recipe.Sources();
    } else {
      js["recipe"] = nullptr;
      js["sources"] = Json::array();
    }
    slots.push_back(std::move(js));
  }
  j["weight_slots"] = slots;
  Json sources = Json::array();
  for (const engine::SourcePrototype& s : plan.sources) {
    sources.push_back({{"name", s.name},
                       {"dtype", std::string(DataTypeName(s.dtype))},
                       {"shape", s.shape.dims()}});
  }
  j["source_weights"] = sources;
  j["weight_computations_kept_at_run_time"] = plan.weight_computations;
  return j;
}

void PrintText(const Json& j, const Plan& plan) {
  std::printf("engine   %s (format %d, %s)\n", j["file"].get<std::string>().c_str(),
              j["format_version"].get<int>(), j["mode"].get<std::string>().c_str());
  std::printf("model    '%s', opset %lld\n", plan.model_name.c_str(),
              static_cast<long long>(plan.opset));
  std::printf("size     file %s, weights %s (refittable %s, stored in the file %s)\n",
              FormatBytes(j["file_bytes"].get<uint64_t>()).c_str(),
              FormatBytes(j["weight_bytes"].get<uint64_t>()).c_str(),
              FormatBytes(j["refittable_weight_bytes"].get<uint64_t>()).c_str(),
              FormatBytes(j["stored_weight_bytes"].get<uint64_t>()).c_str());
  if (j["kept_source_bytes"].get<uint64_t>() > 0) {
    std::printf("sources  kept in the file: %s (the base for --lora)\n",
                FormatBytes(j["kept_source_bytes"].get<uint64_t>()).c_str());
  }
  std::printf("memory   activations %s, workspace %s\n", FormatBytes(plan.arena_bytes).c_str(),
              FormatBytes(plan.workspace_bytes).c_str());
  std::printf("cpu      needs '%s'\n", plan.required_features.c_str());
  if (plan.max_threads > 0) {
    std::printf("threads  runs on at most %d (the thread check), whatever --threads asks\n",
                plan.max_threads);
  }
  // The build's notes (symbolic dims fixed, the plan check's verdict), as the build printed them.
  const Json& notes =
      j["build"].is_object() && j["build"].contains("notes") ? j["build"]["notes"] : Json::array();
  if (notes.is_array()) {
    for (const Json& n : notes) {
      if (n.is_string()) std::printf("note     %s\n", n.get<std::string>().c_str());
    }
  }
  for (const Json& v : j["inputs"]) {
    std::printf("input    %-32s %-5s %s\n", v["name"].get<std::string>().c_str(),
                v["dtype"].get<std::string>().c_str(), v["shape"].dump().c_str());
  }
  for (const Json& v : j["outputs"]) {
    std::printf("output   %-32s %-5s %s\n", v["name"].get<std::string>().c_str(),
                v["dtype"].get<std::string>().c_str(), v["shape"].dump().c_str());
  }
  std::printf("layers   %zu\n", plan.layers.size());
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const engine::PlanLayer& layer = plan.layers[l];
    std::string fused;
    for (const std::string& f : layer.node.fused) fused += (fused.empty() ? " +" : ",") + f;
    std::string act;
    if (const ir::Attribute* a = layer.node.attrs.Find("refit_activation")) act = " act=" + a->s;
    std::string timing;
    if (!layer.timings.empty()) {
      std::vector<engine::TacticTiming> t = layer.timings;
      std::sort(t.begin(), t.end(),
                [](const auto& a, const auto& b) { return a.median_us < b.median_us; });
      // The chosen tactic's own time; the layout selection may choose one slower alone than
      // another whose activation layout its neighbours do not share.
      auto chosen =
          std::find_if(t.begin(), t.end(), [&](const auto& x) { return x.tactic == layer.tactic; });
      const double chosen_us = chosen != t.end() ? chosen->median_us : t[0].median_us;
      char buf[256];
      std::snprintf(buf, sizeof buf, " %.1f us, %zu timed%s", chosen_us, t.size(),
                    layer.from_timing_cache ? " (timing cache)" : "");
      timing = buf;
      auto other =
          std::find_if(t.begin(), t.end(), [&](const auto& x) { return x.tactic != layer.tactic; });
      if (other != t.end()) {
        std::snprintf(buf, sizeof buf, "; %s %s %.1f us",
                      other->median_us < chosen_us ? "faster alone" : "next", other->tactic.c_str(),
                      other->median_us);
        timing += buf;
      }
    }
    std::printf(
        "  %3zu %-28s %-22s%s%s\n       %s %s%s\n", l, layer.node.name.c_str(),
        ((layer.node.domain.empty() ? "" : layer.node.domain + ".") + layer.node.op_type).c_str(),
        act.c_str(), fused.c_str(), layer.backend.c_str(), layer.tactic.c_str(), timing.c_str());
  }
  std::printf("weight slots %zu\n", plan.slots.size());
  for (const engine::WeightSlot& s : plan.slots) {
    std::printf("  %-40s %-5s %-18s %-10s %s\n", s.name.c_str(), DataTypeName(s.dtype).data(),
                s.shape.ToString().c_str(), FormatBytes(s.nbytes()).c_str(),
                s.refittable ? s.recipe.ToString().c_str() : "constant");
  }
  if (!plan.weight_computations.empty()) {
    std::printf("kept at run time (computations on weights that no recipe expresses):\n");
    for (const std::string& n : plan.weight_computations) std::printf("  %s\n", n.c_str());
  }
}

}  // namespace

Status InspectEngine(const std::string& path, bool json) {
  REFIT_ASSIGN_OR_RETURN(auto e, engine::Engine::Open(path));
  REFIT_ASSIGN_OR_RETURN(const Plan* plan, e->TimedPlan());
  const Json j = EngineJson(path, *e, *plan);
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    PrintText(j, *plan);
  }
  return Status::Ok();
}

}  // namespace refit::cli
