#include "cli/engine_loader.h"

#include <cstring>
#include <fstream>
#include <map>

#include "cli/model_loader.h"
#include "engine/engine_file.h"
#include "refit/safetensors.h"

namespace refit::cli {

bool IsEngineFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(engine::kEngineMagic)] = {};
  if (!in.read(magic, sizeof magic)) return false;
  return std::memcmp(magic, engine::kEngineMagic, sizeof magic) == 0;
}

StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const std::string& path, int threads,
                                                     const std::string& weights_path) {
  engine::EngineOptions options;
  options.threads = threads;
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> e, engine::Engine::Open(path, options));
  if (weights_path.empty()) return e;
  std::map<std::string, Tensor> sources;
  const bool onnx =
      weights_path.size() >= 5 && weights_path.compare(weights_path.size() - 5, 5, ".onnx") == 0;
  if (onnx) {
    REFIT_ASSIGN_OR_RETURN(ir::Graph g, LoadModel(weights_path));
    sources = std::move(g.weights);
  } else {
    REFIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                           SafetensorsFile::Open(weights_path));
    for (const std::string& name : file->names()) {
      REFIT_ASSIGN_OR_RETURN(sources[name], file->GetTensor(name));
    }
  }
  auto ws = e->CreateWeightSet([&](const std::string& name) -> const Tensor* {
    auto it = sources.find(name);
    return it == sources.end() ? nullptr : &it->second;
  });
  if (!ws.ok()) return ws.status().WithContext("weights '" + weights_path + "'");
  REFIT_RETURN_IF_ERROR(e->SetWeights(std::move(ws).value()));
  return e;
}

}  // namespace refit::cli
