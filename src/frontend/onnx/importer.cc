#include "frontend/onnx/importer.h"

namespace refit::onnx_frontend {

StatusOr<ir::Graph> ImportOnnxFile(const std::string& path, const ImportOptions& options) {
  return Unimplemented("ONNX import not written yet");
}
StatusOr<ir::Graph> ImportOnnxBytes(const std::string& bytes, const std::string& base_dir,
                                    const std::string& label, const ImportOptions& options) {
  return Unimplemented("ONNX import not written yet");
}
StatusOr<NamedTensor> LoadTensorProtoFile(const std::string& path) {
  return Unimplemented("not written yet");
}

}  // namespace refit::onnx_frontend
