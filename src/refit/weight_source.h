// Source weights read from a file for a refit: a safetensors state dict (by name) or another ONNX
// export of the model (its initializers by name; by graph position when the exporter named them
// differently and the two graphs are the same architecture).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::refitter {

struct WeightSource {
  // Tensors under the ENGINE's source-weight names (zero-copy from the file where possible).
  std::map<std::string, std::shared_ptr<const Tensor>> tensors;
  // Tensors of the file the engine does not read (PyTorch buffers, constants), sorted.
  std::vector<std::string> unused;
  std::string matched_by = "name";  // or "position"
};

// Reads `path` (".onnx": an ONNX model; anything else: safetensors) for an engine with `plan`.
// A file none of whose tensors is a source weight of the plan is an error: it is almost certainly
// for another model. For ONNX, names are tried first; when some source weight is not among the
// initializers, the file's graph is compared with the architecture recorded at build time and,
// when they are the same, its initializers are matched by position; otherwise the error names
// the missing weights and the structural differences.
StatusOr<WeightSource> LoadWeightSource(const std::string& path, const engine::Plan& plan);

}  // namespace refit::refitter
