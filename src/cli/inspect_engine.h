// `refit inspect ENGINE`: the engine's layers (ONNX nodes fused into each, the tactic chosen and
// its time against the others), weight slots with their recipes and source names, sizes, mode.
#pragma once

#include <string>

#include "refit/status.h"

namespace refit::cli {

Status InspectEngine(const std::string& path, bool json);

}  // namespace refit::cli
