// onnx.TensorProto -> refit Tensor, including external data. Internal to the ONNX frontend.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::onnx_frontend {

// Converts `proto` (typed fields, raw_data, or external data resolved against `base_dir`).
// Checks the element count of the declared dims against the bytes actually present; the error
// names the tensor.
StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir);

// Resolves an external-data `location` under `base_dir`, refusing absolute paths and "..".
StatusOr<std::string> ResolveExternalPath(const std::string& base_dir, const std::string& location);

}  // namespace refit::onnx_frontend
