#include "cli/engine_loader.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "cli/model_loader.h"
#include "engine/engine_file.h"
#include "refit/refitter.h"
#include "refit/weight_source.h"

namespace refit::cli {

bool IsEngineFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(engine::kEngineMagic)] = {};
  if (!in.read(magic, sizeof magic)) return false;
  return std::memcmp(magic, engine::kEngineMagic, sizeof magic) == 0;
}

StatusOr<std::string> RefitFromFile(engine::Engine* engine, const std::string& weights_path) {
  if (engine->plan().mode == engine::EngineMode::kStatic) {
    return FailedPrecondition(engine->label() +
                              " is static: its weights are baked in and cannot be refitted "
                              "(build it with --mode refittable or stripped)");
  }
  REFIT_ASSIGN_OR_RETURN(refitter::WeightSource source,
                         refitter::LoadWeightSource(weights_path, engine->plan()));
  Refitter refitter(engine);
  // Every wrong shape or dtype at once, not just the first.
  std::string problems;
  int count = 0;
  for (auto& [name, tensor] : source.tensors) {
    Status s = refitter.SetWeight(name, tensor);
    if (!s.ok() && ++count <= 20) problems += "\n  " + s.message();
  }
  if (count > 0) {
    return InvalidArgument("weights '" + weights_path + "': " + std::to_string(count) +
                           " tensor(s) do not fit the engine:" + problems);
  }
  auto report = refitter.Apply();
  if (!report.ok()) return report.status().WithContext("weights '" + weights_path + "'");
  std::string unused;
  if (!source.unused.empty()) {
    unused = "; " + std::to_string(source.unused.size()) +
             " tensor(s) of the file are not refittable weights of the engine";
  }
  char line[256];
  std::snprintf(line, sizeof line, "refitted %d weight%s (%d of %d slots, %s) by %s in %.2f ms",
                report->weights, report->weights == 1 ? "" : "s", report->slots,
                report->refittable_slots, FormatBytes(report->bytes).c_str(),
                source.matched_by.c_str(), report->seconds * 1e3);
  return std::string(line) + " from '" + weights_path + "'" + unused;
}

StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const std::string& weights_path,
                                                     std::string* summary) {
  engine::EngineOptions options;
  options.threads = threads;
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> e, engine::Engine::Open(path, options));
  if (weights_path.empty()) return e;
  REFIT_ASSIGN_OR_RETURN(std::string line, RefitFromFile(e.get(), weights_path));
  if (summary != nullptr) *summary = std::move(line);
  return e;
}

}  // namespace refit::cli
