// Loading what the CLI's commands take as input: models and safetensors tensor maps.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "refit/safetensors.h"
#include "refit/status.h"

namespace refit::cli {

// Imports an ONNX model (opsets 13..17), with the path in every error. `checked` false skips
// onnx::checker and ONNX shape inference, which register every ONNX operator schema the first time
// a process uses them (about 9 ms, most of a small model's cache hit): for an engine cache lookup,
// whose key covers what they check (operators, attributes, edges, input and weight types). A miss
// imports the model again, checked, before it builds.
StatusOr<ir::Graph> LoadModel(const std::string& path, bool checked = true);

// Opens IN.safetensors and returns views of its tensors by name; the file object keeps them alive.
struct TensorFile {
  std::unique_ptr<SafetensorsFile> file;
  std::map<std::string, TensorView> tensors;
};
StatusOr<TensorFile> LoadTensors(const std::string& path);

// Writes `tensors` (in map order) to a safetensors file, atomically.
Status SaveTensors(const std::string& path, const std::map<std::string, Tensor>& tensors);

// Human-readable byte count: "1.5 MiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace refit::cli
