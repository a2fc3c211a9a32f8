// Loading engines for the CLI: telling engine files from ONNX models, refitting them from weight
// files and applying LoRA adapters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::cli {

// True when `path` starts with the engine magic ("REFITENG").
bool IsEngineFile(const std::string& path);

// "PATH[:SCALE]" (scale 1 when absent); the scale must be a finite number.
struct LoraSpec {
  std::string path;
  float scale = 1;
};
StatusOr<LoraSpec> ParseLoraSpec(const std::string& spec);

// What to do to an engine's weights: refit from a file, then apply adapters.
struct WeightArgs {
  std::string weights;             // "" for none
  std::vector<std::string> loras;  // PATH[:SCALE] each
  bool empty() const { return weights.empty() && loras.empty(); }
};

// Refits `engine` in memory from `args.weights` (a safetensors state dict, or an ONNX export of
// the same model matched by initializer name or by graph position), then merges `args.loras`
// into it. Adapters apply to the base weights: the engine's kept sources with the file's tensors
// over them. Only the slots touched are recomputed; a stripped engine needs all of its weights.
// When the engine keeps its sources, they are updated to the new weights (adapters merged), so a
// file written from it stays self-consistent. Returns one summary line per step; on error the
// engine's weights are unchanged.
StatusOr<std::vector<std::string>> UpdateWeights(engine::Engine* engine, const WeightArgs& args);

// Opens an engine and applies `args` (UpdateWeights); the summary lines go to `*summary`.
StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const WeightArgs& args,
                                                     std::vector<std::string>* summary = nullptr);

}  // namespace refit::cli
