// ONNX import: a .onnx file (with its external-data files) into the refit IR.
//
// The model is parsed with protobuf, checked with onnx::checker, and shape-inferred with
// onnx::shape_inference; the default-domain opset must be in [13, 17]. Initializers become source
// weights under their ONNX names; initializers that are also listed as graph inputs are weights,
// not run-time inputs. External data is read from files beside the model (paths may not escape the
// model's directory), with offsets and lengths checked against the file. Nodes without a name get
// "<op_type>_<index>". Every error names the file (and the node or tensor). No ONNX or protobuf
// exception escapes.
#pragma once

#include <string>

#include "ir/graph.h"
#include "refit/status.h"

namespace refit::onnx_frontend {

struct ImportOptions {
  int64_t min_opset = 13;
  int64_t max_opset = 17;
  // Run onnx::checker (full check) on the model.
  bool check_model = true;
  // Run ONNX shape inference and record intermediate value shapes in Graph::value_infos.
  bool infer_shapes = true;
};

StatusOr<ir::Graph> ImportOnnxFile(const std::string& path, const ImportOptions& options = {});
// As above from an in-memory serialized ModelProto; external data is resolved against `base_dir`
// (the checker does not verify external-data files in this form; reading them does).
StatusOr<ir::Graph> ImportOnnxBytes(const std::string& bytes, const std::string& base_dir,
                                    const std::string& label, const ImportOptions& options = {});

// Reads a serialized onnx.TensorProto file (as the ONNX backend tests store inputs and outputs).
// Returns the tensor's name and value.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};
StatusOr<NamedTensor> LoadTensorProtoFile(const std::string& path);

}  // namespace refit::onnx_frontend
