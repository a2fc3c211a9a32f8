// `refit update ENGINE -o NEW_ENGINE [--weights W.safetensors|W.onnx] [--lora ADAPTER[:SCALE]]...
//  [--mode refittable|stripped]`
//
// Refits an engine file to new source weights, merges LoRA adapters into it, and/or rewrites it in
// another mode, without rebuilding: the recipes and tactics recorded at build time are reused. The
// new file is written atomically (temporary file and rename): on any error nothing is written.
#include <chrono>
#include <cstdio>

#include "base/file_util.h"
#include "cli/commands.h"
#include "cli/engine_loader.h"
#include "cli/model_loader.h"

namespace refit::cli {
namespace {

struct UpdateArgs {
  std::string engine;
  std::string output;
  WeightArgs weights;
  std::string mode;  // "" keeps the engine's mode
};

Status Update(const UpdateArgs& args) {
  if (args.weights.empty() && args.mode.empty()) {
    return InvalidArgument("nothing to do: give --weights, --lora and/or --mode");
  }
  if (!IsEngineFile(args.engine)) {
    return InvalidArgument("'" + args.engine +
                           "' is not an engine file (refit update takes what `refit build` "
                           "wrote)");
  }
  const auto start = std::chrono::steady_clock::now();
  REFIT_ASSIGN_OR_RETURN(auto e, engine::Engine::Open(args.engine));
  engine::EngineMode mode = e->plan().mode;
  if (!args.mode.empty()) {
    REFIT_ASSIGN_OR_RETURN(mode, engine::ParseEngineMode(args.mode));
  }
  if (mode == engine::EngineMode::kStatic && e->plan().mode != engine::EngineMode::kStatic) {
    return InvalidArgument("--mode static: an engine cannot be made static by update (rebuild it)");
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<std::string> lines, UpdateWeights(e.get(), args.weights));
  std::string summary;
  for (const std::string& line : lines) summary += (summary.empty() ? "" : "; ") + line;
  if (summary.empty()) summary = "no weights changed";
  REFIT_ASSIGN_OR_RETURN(const uint64_t file_bytes, e->WriteFile(args.output, mode));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "refit update: %s -> %s (%s, %s): %s; %.2f s in all\n", args.engine.c_str(),
               args.output.c_str(), std::string(engine::EngineModeName(mode)).c_str(),
               FormatBytes(file_bytes).c_str(), summary.c_str(), seconds);
  return Status::Ok();
}

}  // namespace

Command AddUpdateCommand(CLI::App& app) {
  auto args = std::make_shared<UpdateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "update",
      "Refit an engine file to new weights or merge LoRA adapters into it (no rebuild), and/or "
      "change its mode.");
  cmd->add_option("engine", args->engine, "the engine file: ENGINE")->required();
  cmd->add_option("-o,--output", args->output, "engine file to write (may be ENGINE itself)")
      ->required();
  AddWeightOptions(cmd, &args->weights, /*stripped_note=*/false);
  cmd->add_option("--mode", args->mode,
                  "refittable (weights in the file) or stripped (no refittable weights); "
                  "default: the engine's mode")
      ->check(CLI::IsMember({"refittable", "stripped", "static"}));
  return [args] { return Update(*args); };
}

}  // namespace refit::cli
