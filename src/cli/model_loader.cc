#include "cli/model_loader.h"

#include <cstdio>

#include "frontend/onnx/importer.h"

namespace refit::cli {

StatusOr<ir::Graph> LoadModel(const std::string& path, bool checked) {
  onnx_frontend::ImportOptions options;
  options.check_model = checked;
  options.infer_shapes = checked;
  return onnx_frontend::ImportOnnxFile(path, options);
}

StatusOr<TensorFile> LoadTensors(const std::string& path) {
  TensorFile tf;
  REFIT_ASSIGN_OR_RETURN(tf.file, SafetensorsFile::Open(path));
  for (const std::string& name : tf.file->names()) {
    REFIT_ASSIGN_OR_RETURN(tf.tensors[name], tf.file->Get(name));
  }
  return tf;
}

Status SaveTensors(const std::string& path, const std::map<std::string, Tensor>& tensors) {
  std::vector<NamedTensorView> views;
  for (const auto& [name, t] : tensors) views.push_back({name, t.view()});
  return WriteSafetensors(path, views);
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace refit::cli
