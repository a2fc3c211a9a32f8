// Loading engines for the CLI: telling engine files from ONNX models, and refitting them from
// weight files.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::cli {

// True when `path` starts with the engine magic ("REFITENG").
bool IsEngineFile(const std::string& path);

// Refits `engine` in memory from `weights_path` (a safetensors state dict, or an ONNX export of
// the same model matched by initializer name or by graph position) with every core. Only the
// slots those weights touch are recomputed; a stripped engine needs all of its weights. Returns a
// one-line summary; on error the engine is unchanged.
StatusOr<std::string> RefitFromFile(engine::Engine* engine, const std::string& weights_path);

// Opens an engine and, with `weights_path`, refits it (RefitFromFile); the summary goes to
// `*summary` when given.
StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const std::string& weights_path,
                                                     std::string* summary = nullptr);

}  // namespace refit::cli
