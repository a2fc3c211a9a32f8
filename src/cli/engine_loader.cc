#include "cli/engine_loader.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "cli/model_loader.h"
#include "engine/engine_file.h"
#include "refit/lora.h"
#include "refit/refitter.h"
#include "refit/weight_source.h"

namespace refit::cli {
namespace {

std::string Plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

StatusOr<std::string> RefitFromSource(engine::Engine* engine, const std::string& path,
                                      const refitter::WeightSource& source) {
  Refitter refitter(engine);
  std::map<std::string, TensorView> views;
  for (const auto& [name, tensor] : source.tensors) views[name] = tensor->view();
  Status set = refitter.SetWeights(views);
  if (!set.ok()) return set.WithContext("weights '" + path + "'");
  auto report = refitter.Apply();
  if (!report.ok()) return report.status().WithContext("weights '" + path + "'");
  std::string unused;
  if (!source.unused.empty()) {
    unused = "; " + std::to_string(source.unused.size()) +
             " tensor(s) of the file are not refittable weights of the engine";
  }
  char line[256];
  std::snprintf(line, sizeof line, "refitted %s (%d of %d slots, %s) by %s in %.2f ms",
                Plural(report->weights, "weight").c_str(), report->slots, report->refittable_slots,
                FormatBytes(report->bytes).c_str(), source.matched_by.c_str(),
                report->seconds * 1e3);
  return std::string(line) + " from '" + path + "'" + unused;
}

// The engine's kept sources as a SourceSet from `values` when it names every source weight.
std::shared_ptr<const engine::SourceSet> FullSourceSet(
    const engine::Engine& engine,
    const std::map<std::string, std::shared_ptr<const Tensor>>& values) {
  auto set = std::make_shared<engine::SourceSet>();
  for (const engine::SourcePrototype& p : engine.plan().sources) {
    auto it = values.find(p.name);
    if (it == values.end() || it->second == nullptr) return nullptr;
    set->tensors.push_back(it->second);
  }
  return set;
}

}  // namespace

bool IsEngineFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(engine::kEngineMagic)] = {};
  if (!in.read(magic, sizeof magic)) return false;
  return std::memcmp(magic, engine::kEngineMagic, sizeof magic) == 0;
}

StatusOr<LoraSpec> ParseLoraSpec(const std::string& spec) {
  LoraSpec out;
  out.path = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon > 0 && colon + 1 < spec.size()) {
    const std::string number = spec.substr(colon + 1);
    char* end = nullptr;
    const float scale = std::strtof(number.c_str(), &end);
    if (end == number.c_str() + number.size()) {
      if (!std::isfinite(scale)) {
        return InvalidArgument("--lora '" + spec + "': the scale must be a finite number");
      }
      out.path = spec.substr(0, colon);
      out.scale = scale;
    }
  }
  if (out.path.empty()) return InvalidArgument("--lora '" + spec + "' names no adapter");
  return out;
}

StatusOr<std::vector<std::string>> UpdateWeights(engine::Engine* engine, const WeightArgs& args) {
  std::vector<std::string> lines;
  if (args.empty()) return lines;
  if (engine->plan().mode == engine::EngineMode::kStatic) {
    return FailedPrecondition(engine->label() +
                              " is static: its weights are baked in and cannot be refitted "
                              "(build it with --mode refittable or stripped)");
  }
  std::vector<LoraSpec> specs;
  for (const std::string& s : args.loras) {
    REFIT_ASSIGN_OR_RETURN(LoraSpec spec, ParseLoraSpec(s));
    specs.push_back(std::move(spec));
  }
  BaseWeights base = KeptBaseWeights(*engine);
  const bool kept = engine->kept_sources() != nullptr;
  // Adapters are read and matched before any weight changes, so a bad one changes nothing.
  std::vector<LoraAdapter> adapters;
  std::vector<WeightPrototype> prototypes;
  for (const auto& p : engine->plan().sources) prototypes.push_back({p.name, p.dtype, p.shape});
  for (const LoraSpec& spec : specs) {
    REFIT_ASSIGN_OR_RETURN(LoraAdapter adapter, LoadLoraAdapter(spec.path, prototypes));
    adapters.push_back(std::move(adapter));
  }
  const std::shared_ptr<const engine::WeightSet> before = engine->weights();
  if (!args.weights.empty()) {
    REFIT_ASSIGN_OR_RETURN(refitter::WeightSource source,
                           refitter::LoadWeightSource(args.weights, engine->plan()));
    REFIT_ASSIGN_OR_RETURN(std::string line, RefitFromSource(engine, args.weights, source));
    lines.push_back(std::move(line));
    for (auto& [name, tensor] : source.tensors) base[name] = tensor;
  }
  std::map<std::string, std::shared_ptr<const Tensor>> merged = base;
  if (!adapters.empty()) {
    LoraRefitter lora(engine, base);
    int targets = 0;
    for (size_t i = 0; i < adapters.size(); ++i) {
      targets += int(adapters[i].targets.size());
      REFIT_RETURN_IF_ERROR(lora.Load(std::to_string(i) + ":" + specs[i].path,
                                      std::move(adapters[i]), specs[i].scale));
    }
    auto report = lora.Apply();
    if (!report.ok()) {
      // Put back the weights the --weights refit already swapped in.
      if (engine->weights() != before) REFIT_RETURN_IF_ERROR(engine->SetWeights(before));
      return report.status();
    }
    char line[256];
    std::snprintf(line, sizeof line, "merged %s (%s, %d of %d slots, %s) in %.2f ms",
                  Plural(int(specs.size()), "adapter").c_str(), Plural(targets, "target").c_str(),
                  report->slots, report->refittable_slots, FormatBytes(report->bytes).c_str(),
                  report->seconds * 1e3);
    lines.push_back(line);
    auto all = lora.MergedWeights();
    merged = all.ok() ? std::move(all).value() : decltype(merged)();
  }
  if (kept) {
    std::shared_ptr<const engine::SourceSet> sources = FullSourceSet(*engine, merged);
    if (sources == nullptr) return Internal(engine->label() + ": kept sources went missing");
    REFIT_RETURN_IF_ERROR(engine->SetKeptSources(std::move(sources)));
  }
  return lines;
}

StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const WeightArgs& args,
                                                     std::vector<std::string>* summary) {
  engine::EngineOptions options;
  options.threads = threads;
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> e, engine::Engine::Open(path, options));
  REFIT_ASSIGN_OR_RETURN(std::vector<std::string> lines, UpdateWeights(e.get(), args));
  if (summary != nullptr) *summary = std::move(lines);
  return e;
}

}  // namespace refit::cli
