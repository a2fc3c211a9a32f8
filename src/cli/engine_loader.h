// Loading engines for the CLI: telling engine files from ONNX models, and filling weights.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "refit/status.h"

namespace refit::cli {

// True when `path` starts with the engine magic ("REFITENG").
bool IsEngineFile(const std::string& path);

// Opens an engine. With `weights_path` (a safetensors state dict or an ONNX model whose
// initializers carry the source weights' names), every refittable slot is recomputed from those
// weights before the engine is returned; a stripped engine needs them.
StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const std::string& weights_path);

}  // namespace refit::cli
